# subvisor bot texts — Russian.
#
# Messages use Telegram HTML: only <b>, <i>, <code> and <a href="...">.
# Variables arrive already HTML-escaped. btn-*, cmd-*, invoice-* and
# precheckout-* are plain text (buttons, command menu, invoices, payment
# errors) and must not contain markup.
# $days, $days_left, $count and $ttl_minutes are numbers (plural selectors).

## Buttons

btn-buy = 🛒 Купить VPN
btn-renew = 🔄 Продлить
btn-my-sub = 🔑 Моя подписка
btn-trial = 🎁 Пробный период
btn-balance = 💰 Баланс
btn-topup = ➕ Пополнить
btn-referral = 👥 Пригласить друзей
btn-help = ❓ Помощь
btn-language = 🌐 Язык
btn-back = ← Назад
btn-menu = 🏠 Меню
btn-reissue = ♻️ Новый ключ
btn-reset-link = 🔗 Новая ссылка подписки
btn-links = 📋 Ссылки и QR-код
btn-confirm = ✅ Подтвердить
btn-cancel = ✖️ Отмена
btn-pay-url = 💳 Оплатить через { $provider }
btn-plan = { $title } — { $price }
btn-provider-stars = ⭐ Telegram Stars
btn-provider-cryptobot = 🪙 Crypto Bot
btn-provider-nowpayments = 💎 Криптовалюта
btn-provider-balance = 💰 С баланса ({ $balance })
btn-topup-amount = + { $amount }
btn-grant = +{ $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
}
btn-revoke = ⛔ Отозвать доступ
btn-refund = ↩️ Вернуть { $amount }
btn-prev = ‹ Пред.
btn-next = След. ›
btn-open-user = 👤 { $user }

## Main menu (the caller appends one status-* line)

menu-greeting =
    👋 Привет, { $name }!
    Быстрый и приватный VPN для телефона, планшета и компьютера.
status-active = ✅ Доступ активен до <b>{ $expires }</b> (ещё { $days_left } { $days_left ->
    [one] день
    [few] дня
   *[many] дней
}).
status-expired = ⌛ Доступ закончился { $expired_at }. Продлите подписку, чтобы снова подключиться.
status-revoked = ⛔ Ваш доступ отозван. Если это ошибка, напишите в поддержку.
status-none = У вас пока нет подписки — выберите тариф, и через минуту вы будете на связи.

## Buying

plans-title =
    <b>Выберите тариф</b>
    Доступ включается сразу после оплаты. Если подписка уже есть, новые дни добавятся к ней.
plan-line = • <b>{ $title }</b> — { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
}, { $price }
pay-method-title =
    <b>{ $plan }</b> — { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }, { $price }
    Как удобнее оплатить?
invoice-title = VPN — { $plan }
invoice-description = { $plan }: { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
} доступа к VPN. Доступ включится сразу после оплаты.
invoice-label = VPN — { $plan }
pay-with-link =
    🧾 Заказ на <b>{ $amount }</b> создан. Нажмите кнопку ниже, чтобы оплатить через { $provider }.
    Доступ включится автоматически, как только { $provider } подтвердит оплату, — ничего присылать не нужно.
    Ссылка на оплату действует { $ttl_minutes } { $ttl_minutes ->
        [one] минуту
        [few] минуты
       *[many] минут
    }.
order-failed = Не получилось создать заказ. Попробуйте ещё раз через минуту.
provider-unavailable = Этот способ оплаты временно недоступен. Пожалуйста, выберите другой.
insufficient-funds = Недостаточно средств: на балансе <b>{ $balance }</b>, а тариф стоит <b>{ $price }</b>. Пополните баланс или выберите другой способ оплаты.
purchases-paused = Покупки ненадолго приостановлены на техническое обслуживание. Ваш текущий доступ работает — попробуйте чуть позже.
order-paid = ✅ Оплачено с баланса. Ключи и ссылки придут отдельным сообщением.

## Access and links

activated =
    ✅ <b>Доступ готов</b> на { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }, до <b>{ $expires }</b>.
    Нажмите «🚀 Подключить», чтобы добавить его в VPN-приложение.
extended =
    ✅ <b>Подписка продлена</b> на { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }.
    Активна до <b>{ $expires }</b>. Ссылки остаются прежними.
links-header =
    🔑 <b>Ваше подключение</b>
    Добавьте ссылку подписки в VPN-приложение — список серверов будет обновляться автоматически.
sub-url =
    Ссылка подписки (нажмите, чтобы скопировать):
    <code>{ $url }</code>
howto =
    <b>Как подключиться</b>
    1. Установите приложение:
      • Android — v2rayNG или Hiddify
      • iPhone / iPad — Streisand, FoXray или Hiddify
      • Windows / macOS — Hiddify или v2rayN
    2. Скопируйте ссылку подписки и добавьте её в приложении («импорт из буфера обмена») или отсканируйте QR-код.
    3. Нажмите «Подключить». Готово!
qr-caption = Отсканируйте этот QR-код в VPN-приложении, чтобы добавить подписку.

## My subscription

sub-title = 🔑 <b>Моя подписка</b>
sub-active = Статус: ✅ активна до <b>{ $expires }</b> (ещё { $days_left } { $days_left ->
    [one] день
    [few] дня
   *[many] дней
})
sub-expired = Статус: ⌛ закончилась { $expired_at }. Продлите, чтобы снова подключиться.
sub-revoked = Статус: ⛔ отозвана. Если есть вопросы, напишите в поддержку.
sub-none = У вас пока нет подписки.
traffic-used = Использовано трафика: { $used }

## Reissue and reset

reissue-confirm =
    ♻️ <b>Получить новый ключ?</b>
    Текущий ключ сразу перестанет работать, а вы получите новый. Это нужно, если ключ попал в чужие руки или перестал подключаться.
    Если вы пользуетесь ссылкой подписки, после этого просто обновите подписку в приложении.
reissued = ✅ Готово — у вас новый ключ, старый больше не работает. Обновите подписку в приложении (или снова нажмите «🚀 Подключить»).
reset-link-confirm =
    🔗 <b>Получить новую ссылку подписки?</b>
    Текущая ссылка перестанет работать, а вы получите новую. Это нужно, если вы случайно кому-то её отправили. Новую ссылку нужно будет добавить в приложения.
link-reset =
    ✅ Ваша новая ссылка подписки:
    <code>{ $url }</code>
    Старая ссылка и старые QR-коды больше не работают — добавьте новую ссылку в приложения (нажмите «🚀 Подключить»).
no-subscription = У вас нет активной подписки. Выберите тариф, чтобы начать.

## Trial

trial-started = 🎁 Пробный период начался: { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
} полного доступа. Приятного пользования!
trial-used = Вы уже использовали пробный период. Выберите тариф, чтобы остаться на связи.
trial-disabled = Пробный период сейчас недоступен.

## Balance

balance-title =
    💰 <b>Баланс:</b> { $balance }
balance-topup-hint = Пополните его и оплачивайте тарифы в одно касание.
topup-title =
    ➕ <b>Пополнение баланса</b>
    Выберите сумму:
topup-created = 🧾 Пополнение на <b>{ $amount }</b> создано. Нажмите кнопку ниже, чтобы оплатить, — деньги поступят на баланс сразу после подтверждения оплаты.

## Referrals

referral =
    👥 <b>Приглашайте друзей</b>
    Поделитесь своей личной ссылкой. За каждого друга, который придёт по ней и сделает покупку, вы получите <b>{ $bonus }</b> на баланс.
    Ваша ссылка: <code>{ $link }</code>
    Приглашено друзей: { $count }
referral-days =
    👥 <b>Приглашайте друзей</b>
    Поделитесь своей личной ссылкой. За каждого друга, который придёт по ней и сделает покупку, вы получите <b>{ $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }</b> доступа к VPN.
    Ваша ссылка: <code>{ $link }</code>
    Приглашено друзей: { $count }
referral-no-bonus =
    👥 <b>Приглашайте друзей</b>
    Поделитесь своей личной ссылкой с друзьями, которым нужен надёжный VPN.
    Ваша ссылка: <code>{ $link }</code>
    Приглашено друзей: { $count }

## Help

help-title = <b>Что умеет этот бот</b>
help-buy = 🛒 Покупка и продление доступа к VPN
help-sub = 🔑 Ваша подписка, ссылки и QR-код — /sub
help-reissue = ♻️ Новый ключ или новая ссылка подписки, если старые попали в чужие руки
help-trial = 🎁 Пробный период, чтобы попробовать перед покупкой
help-balance = 💰 Баланс для оплаты в одно касание
help-referral = 👥 Личная ссылка для приглашения друзей
help-language = 🌐 Смена языка: English / Русский
help-support = Вопросы или проблемы? Пишите { $support } — мы поможем.

## Command menu (plain text)

cmd-start = Запустить бота
cmd-help = Что умеет бот
cmd-menu = Главное меню
cmd-sub = Моя подписка и ссылки

## Language

language-title = 🌐 Выберите язык:
language-set = Язык изменён на русский.

## Errors

button-expired = Эта кнопка устарела. Откройте меню заново.
rate-limited = Слишком много запросов — подождите несколько секунд.
error-generic = Что-то пошло не так на нашей стороне. Попробуйте ещё раз через минуту.
unknown-command = Я не знаю такой команды. Нажмите /menu, чтобы увидеть, что я умею.

## Telegram Stars checkout refusals (plain text)

precheckout-expired = Срок действия заказа истёк. Создайте новый заказ в боте.
precheckout-paid = Этот заказ уже оплачен.
precheckout-mismatch = Цена изменилась. Создайте новый заказ в боте.
precheckout-paused = Покупки приостановлены на техническое обслуживание. Попробуйте позже.
precheckout-unknown = Заказ не найден. Создайте новый заказ в боте.

## Notifications

notify-activated = 🎉 Оплата получена — VPN активен до <b>{ $expires }</b>. Ссылки — в /sub.
notify-extended = ✅ Оплата получена — подписка продлена на { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
}, до <b>{ $expires }</b>.
notify-expired = ⌛ Срок доступа к VPN закончился. Продлите подписку — подключение восстановится за минуту. Нажмите кнопку ниже.
notify-revoked = ⛔ Ваш доступ к VPN отозван. Если это ошибка, напишите в поддержку.
notify-reissued = ♻️ Ваш ключ заменён — старый больше не работает. Обновите подписку в приложении.
notify-remind-3d = ⏰ Доступ к VPN закончится через 3 дня, <b>{ $expires }</b>. Продлите заранее, чтобы не потерять связь, — новые дни добавятся к текущим.
notify-remind-1d = ⏰ Доступ к VPN закончится завтра, <b>{ $expires }</b>. Продлите, чтобы остаться на связи.
notify-refunded = ↩️ Оформлен возврат: <b>{ $amount }</b>.
notify-partially-paid = ⚠️ Мы получили только часть оплаты, поэтому заказ не удалось завершить автоматически. Поддержка разберётся — пожалуйста, не оплачивайте повторно.
notify-topup = 💰 Баланс пополнен на <b>{ $amount }</b>. Текущий баланс: <b>{ $balance }</b>.
notify-referral-days = 🎁 Приглашённый вами друг сделал покупку — вам добавлено <b>{ $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
}</b> доступа к VPN, теперь до { $expires }. Спасибо!
notify-referral-bonus = 🎁 Приглашённый вами друг сделал покупку — на ваш баланс зачислено <b>{ $amount }</b>. Спасибо!
notify-payment-flagged = ⚠️ Мы получили вашу оплату, но сумма не совпадает с заказом. Поддержка проверит платёж и свяжется с вами — пожалуйста, не оплачивайте повторно.
notify-payment-credited = 💰 Мы получили платёж <b>{ $amount }</b>, который не понадобился для заказа, поэтому он зачислен на ваш баланс (теперь <b>{ $balance }</b>). Его можно потратить на следующую покупку.
notify-payment-credited-underpaid = 💰 Мы получили <b>{ $amount }</b> — меньше цены заказа, поэтому заказ не выполнен. Деньги зачислены на ваш баланс (теперь <b>{ $balance }</b>).
notify-payment-returned = ↩️ Вы оплатили один и тот же заказ дважды — лишний платёж <b>{ $amount }</b> возвращён вам.
payment-delayed = ✅ Оплата получена и сохранена. Активация занимает чуть больше времени, чем обычно, — мы напишем, как только всё будет готово.

## Admin

admin-stats =
    📊 <b>Статистика</b>
    Пользователи: { $users } (активных: { $active }, заблокировали бота: { $blocked })

    <b>Выручка</b>
    { $revenue }

    <b>Узлы</b>
    { $nodes }
admin-users-title = 👥 <b>Пользователи</b> — страница { $page } из { $pages } (всего: { $total })
admin-user =
    👤 <b>Пользователь</b> <code>{ $user }</code> { $username }
    Статус: { $status }
    Баланс: { $balance }
    С нами с: { $created }
    Заказы: { $orders }

    <b>Последние действия</b>
    { $audit }
admin-granted = ✅ Выдано { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
} пользователю <code>{ $user }</code>. Доступ активен до <b>{ $expires }</b>.
admin-revoked = ⛔ Доступ пользователя <code>{ $user }</code> отозван.
admin-revoke-confirm = Отозвать доступ пользователя <code>{ $user }</code>? Его ключ сразу перестанет работать.
admin-refund-confirm = Вернуть деньги по заказу <code>{ $order }</code> ({ $amount })? Это действие нельзя отменить.
admin-refunded = ↩️ Возврат по заказу <code>{ $order }</code> выполнен.
admin-refund-failed = ❌ Возврат не удался: { $reason }
admin-broadcast-usage = Использование: <code>/broadcast &lt;текст&gt;</code> — отправляет текст (как обычный текст) всем, кто не заблокировал бота. Сначала вы увидите предпросмотр.
admin-broadcast-preview =
    📣 <b>Предпросмотр рассылки</b> — получателей: { $count }

    { $text }
admin-broadcast-progress =
    📣 Отправка… { $done }/{ $total }
    Доставлено: { $delivered } · заблокировали: { $blocked } · ошибки: { $failed }
admin-broadcast-report =
    📣 <b>Рассылка завершена</b>
    Получателей: { $total }
    Доставлено: { $delivered }
    Заблокировали бота: { $blocked }
    Ошибки: { $failed }
admin-broadcast-cancelled = Рассылка отменена.
admin-maintenance-on = 🛠 Режим обслуживания ВКЛЮЧЁН: новые покупки приостановлены, текущий доступ работает.
admin-maintenance-off = ✅ Режим обслуживания ВЫКЛЮЧЕН: покупки снова открыты.
admin-maintenance-usage = Использование: <code>/maintenance on</code> или <code>/maintenance off</code>
admin-usage-grant = Использование: <code>/grant &lt;id пользователя&gt; &lt;дней&gt;</code>
admin-usage-revoke = Использование: <code>/revoke &lt;id пользователя&gt;</code>
admin-usage-user = Использование: <code>/user &lt;id пользователя&gt;</code>
admin-user-not-found = Пользователь <code>{ $user }</code> не найден.
admin-cancelled = Отменено.

## Admin alerts (the alerts outbox)

alert-payment-credited = 💰 <b>Неожиданный платёж зачислен на баланс</b>: пользователь <code>{ $user }</code>, { $amount } ({ $reason }), заказ <code>{ $order }</code>.
alert-payment-returned = ↩️ <b>Платёж возвращён</b>: пользователь <code>{ $user }</code>, { $amount } ({ $reason }), платёж <code>{ $charge }</code>.
alert-payment-flagged = ⚠️ <b>Платёж требует проверки</b>: заказ <code>{ $order }</code>, пользователь <code>{ $user }</code>: { $flag }.
alert-unknown-order = ⚠️ <b>Деньги за неизвестный заказ</b>: { $provider } <code>{ $payment }</code>, { $amount }.
alert-refund-shortfall = ⚠️ <b>Возврат удался не полностью</b>: пользователь <code>{ $user }</code>, заказ <code>{ $order }</code> ({ $what }), не хватило { $shortfall }.
alert-worker-crash-loop = 🔥 <b>Фоновый процесс падает раз за разом</b>: <code>{ $worker }</code> перезапущен { $restarts } раз; последний сбой: { $failure }. Подробности: /ops/workers.

## Devices (x-hwid)

btn-devices = 📱 Устройства
btn-device-remove = ✖️ Удалить { $name }
btn-reset-devices = 📱 Сбросить устройства ({ $count })
devices-title-limit = 📱 <b>Устройства</b>: { $count }/{ $limit }
devices-title = 📱 <b>Устройства</b>: { $count }
devices-none = Ни одно устройство ещё не загружало подписку с идентификатором устройства.
device-line = • <b>{ $name }</b> · { $os } · был(о) в сети { $seen }
device-unnamed = устройство { $id }
device-remove-confirm =
    ✖️ <b>Удалить { $name }?</b>
    При следующем обновлении оно перестанет получать серверы, а его место займёт другое устройство.
device-removed = ✅ Устройство удалено.
admin-devices-reset-confirm = 📱 Забыть все устройства <code>{ $user }</code>? Приложения зарегистрируются снова при следующем обновлении.
admin-devices-reset = ✅ { $count } { $count ->
    [one] устройство
    [few] устройства
   *[other] устройств
} пользователя <code>{ $user }</code> забыто.

## Status card

btn-connect = 🚀 Подключить
btn-copy-link = 📋 Ссылка
btn-qr = 📷 QR-код
btn-keys = 🔑 Показать ключи
btn-apps = 📱 Приложения
card-devices-limit = Устройства: { $count } из { $limit }
card-devices = Устройства: { $count }
card-connect-hint = Нажмите «🚀 Подключить»: откроется страница, которая добавит подписку в приложение в одно касание.
link-title =
    📋 <b>Ваша ссылка подписки</b>
    Нажмите, чтобы скопировать, и добавьте её в VPN-приложение («Импорт из буфера обмена»):
    <code>{ $url }</code>
keys-title =
    🔑 <b>Ваши ключи</b>
    Для приложений без поддержки подписок. Лучше пользоваться ссылкой подписки: список серверов в ней обновляется сам.
keys-none = Ключей пока нет.
apps-title =
    📱 <b>VPN-приложения</b>
    Установите одно из них, вернитесь сюда и нажмите «🚀 Подключить».
apps-line = <b>{ $platform }</b>: { $apps }

## Support

btn-support = 💬 Поддержка
cmd-paysupport = Помощь с оплатой
cmd-terms = Условия использования
support-contact = Поддержка: { $support }
support-contact-none = Напишите нам в этом чате через /help.
terms-default =
    📄 <b>Условия использования</b>
    Вы покупаете доступ к VPN-сервису на срок выбранного тарифа. Доступ начинается сразу после оплаты и заканчивается по истечении срока — продлите, чтобы сохранить его. Не используйте сервис в незаконных целях и не передавайте свои ссылки другим: за злоупотребления доступ может быть отозван. Возврат возможен, если услугу не удалось оказать.
paysupport-default =
    💳 <b>Помощь с оплатой</b>
    Если оплата прошла, а доступ не появился, или деньги списались дважды — напишите в поддержку, указав дату и сумму: мы проверяем каждый случай и возвращаем деньги, если услугу не удалось оказать. Оплату звёздами можно вернуть на ваш счёт в Telegram.
media-reply = 🤖 Я не умею читать фото, стикеры и голосовые сообщения. Воспользуйтесь кнопками ниже или напишите в поддержку, если нужен человек.

## Bans

banned = ⛔ Доступ к сервису для вашего аккаунта закрыт. Если это ошибка, напишите в поддержку.
trial-new-users = 🎁 Пробный период — только для новых пользователей. Выберите тариф, чтобы остаться на связи.
admin-banned = ⛔ <code>{ $user }</code> заблокирован: доступ отозван, покупки и пробный период недоступны до /unban.
admin-unbanned = ✅ <code>{ $user }</code> разблокирован.
admin-usage-ban = Использование: /ban &lt;id пользователя&gt; или /unban &lt;id пользователя&gt;
# One open invoice per purchase.
invoice-below = ⬇️ Счёт ниже: оплатите его там. Повторное нажатие «Оплатить» не пришлёт новый.
invoice-paid = ✅ Оплачено. Ключи и ссылки придут отдельным сообщением.
precheckout-superseded = Для этой покупки выставлен более новый счёт: оплатите последний.


# Admin screens for people.
btn-back-to-users = ← К списку
admin-sub-active = активна до { $expires }
admin-sub-expired = истекла { $expires }
admin-sub-revoked = отозвана
admin-order-topup = пополнение баланса
admin-provider-balance = с баланса
admin-order-pending = ждёт оплаты
admin-order-paid = оплачен
admin-order-expired = истёк без оплаты
admin-order-failed = не прошёл
admin-order-refunded = возвращён
admin-by-user = пользователь
admin-by-admin = админ { $id }
admin-by-ops = API операторов
admin-by-system = сервис
admin-action-first-contact = впервые запустил бота
admin-action-create-order = создан заказ
admin-action-close-order = заказ закрыт без оплаты
admin-action-apply-payment = получена оплата
admin-action-payment-credited = оплата зачислена на баланс
admin-action-payment-return-queued = оплата будет возвращена
admin-action-payment-returned = оплата возвращена
admin-action-stray-payment-flagged = платёж без заказа отмечен для проверки
admin-action-flag-order = заказ отмечен для проверки
admin-action-refund-order = заказ возвращён
admin-action-adjust-balance = баланс изменён
admin-action-grant-days = выданы дни
admin-action-revoke = доступ отозван
admin-action-expire = доступ истёк
admin-action-start-trial = начат пробный период
admin-action-reissue = ключ заменён
admin-action-rotate-sub-token = ссылка подписки сброшена
admin-action-referral-bonus = реферальный бонус
admin-action-referral-reversed = реферальный бонус отменён
admin-action-device-added = новое устройство
admin-action-device-removed = устройство удалено
admin-action-devices-reset = устройства сброшены
admin-action-gift-created = подарок создан
admin-action-gift-redeemed = подарок активирован
admin-action-gift-voided = подарок отменён
admin-action-promo-used = промокод использован
admin-action-reset-traffic = трафик сброшен
admin-action-set-auto-renew = автопродление изменено
admin-action-traffic-limited = приостановлено из-за трафика
admin-action-traffic-unlimited = трафик снова доступен
admin-grant-bad-arguments = ❌ Укажите id пользователя и число дней — и ничего больше.
admin-grant-bad-user = ❌ Первый аргумент — числовой id пользователя Telegram.
admin-grant-bad-days = ❌ Число дней должно быть целым.
admin-grant-days-range = ❌ Число дней — от 1 до { $max }.
admin-grant-unknown-confirm = ⚠️ Пользователь <code>{ $user }</code> ни разу не запускал бота: он не получит ссылку, пока не запустит. Всё равно выдать { $days } { $days ->
    [one] день
    [few] дня
   *[other] дней
} (он также будет получать рассылки)?
admin-node-up = работает
admin-node-down = недоступен
admin-node-unknown = ещё не проверен
admin-grant-already = ✅ Уже сделано: эта кнопка выдала пользователю <code>{ $user }</code> дни при первом нажатии.
alert-purchase = 🛒 <b>Покупка</b>: пользователь <code>{ $user }</code> оплатил { $amount } ({ $provider }): { $what }.

## Автопродление с баланса.
btn-auto-renew-on = 🔁 Автопродление с баланса: вкл
btn-auto-renew-off = 🔁 Автопродление с баланса: выкл
auto-renew-enabled =
    🔁 <b>Автопродление включено.</b> { $plan } ({ $price }) будет оплачен с баланса за { $hours } { $hours ->
        [one] час
        [few] часа
       *[many] часов
    } до окончания подписки. Если на балансе не хватит денег, мы напомним.
auto-renew-disabled = 🔁 Автопродление выключено.
auto-renew-no-plan = 🔁 Автопродление снова покупает с баланса тариф, который вы оплатили последним. Сначала купите тариф, затем включите его.
notify-auto-renewed =
    ✅ <b>Продлено с баланса:</b> { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }, −{ $price }. Баланс: <b>{ $balance }</b>. Активна до { $expires }.
notify-auto-renew-short = ⚠️ Автопродление не смогло продлить подписку: она стоит <b>{ $price }</b>, на балансе <b>{ $balance }</b>. Пополните баланс до { $expires }, и подписка продлится сама.
notify-auto-renew-unpayable = ⚠️ Автопродление больше не может оплатить ваш тариф с баланса. Подписка закончится { $expires }: выберите тариф, чтобы продлить её.
# Трафик
notify-traffic-low = 📶 Вы израсходовали <b>{ $used }</b> из <b>{ $total }</b> трафика за этот период.
notify-traffic-exhausted = ⛔ Трафик за этот период (<b>{ $total }</b>) израсходован, доступ приостановлен. Купите пакет трафика или продлите подписку.
notify-traffic-exhausted-resets = ⛔ Трафик за этот период (<b>{ $total }</b>) израсходован, доступ приостановлен до <b>{ $resets }</b>. Купите пакет трафика, чтобы продолжить сейчас.
notify-traffic-added = 📶 К этому периоду добавлено <b>{ $amount }</b> трафика.
notify-traffic-restored = ✅ Трафик снова доступен — доступ восстановлен.
card-traffic = 📶 { $bar } { $used } / { $total }
card-traffic-resets = 📶 { $bar } { $used } / { $total }, сброс { $resets }
card-traffic-limited = ⛔ Трафик за этот период израсходован: доступ приостановлен.
btn-buy-traffic = 📶 Купить трафик
traffic-packs-title = 📶 <b>Пакеты трафика</b>
    Дополнительный трафик на текущий период. Выберите пакет:
admin-traffic = Трафик за период: { $used } / { $total }
btn-admin-traffic-reset = 📶 Сбросить трафик
admin-traffic-reset-done = Трафик сброшен: период начат заново.
admin-traffic-reset-confirm = Сбросить трафик этого периода у пользователя { $user }? Доступ вернётся, если он был приостановлен из-за трафика.
pack-line = • <b>{ $title }</b> — { $size }, { $price }
pack-pay-title = <b>{ $title }</b> — { $size } трафика на текущий период, { $price }. Как оплатить?
admin-stats-traffic =
    <b>Трафик</b>
    Сегодня: { $today } · за месяц: { $month } · приостановлено из-за трафика: { $limited }
invoice-description-pack = { $plan }: { $size } трафика на текущий период
## Промокоды

btn-promo = 🏷 Есть промокод?
btn-promo-retry = 🏷 Другой промокод
promo-ask = Отправьте промокод для тарифа <b>{ $plan }</b> сообщением.
promo-applied =
    🏷 Промокод <b>{ $code }</b> применён к тарифу <b>{ $plan }</b>:
    { $prices }
    Выберите способ оплаты:
promo-price-line = • { $provider }: вместо <i>{ $list }</i> — <b>{ $price }</b>
promo-days-redeemed = 🎉 Промокод добавил бесплатные дни: подписка действует до <b>{ $expires }</b>. Ссылки придут отдельным сообщением.
promo-refused-unknown = ❌ Такого промокода нет. Проверьте написание и попробуйте ещё раз.
promo-refused-disabled = ❌ Этот промокод отключён.
promo-refused-expired = ❌ Срок действия промокода истёк.
promo-refused-used-up = ❌ Промокод закончился.
promo-refused-already-used = ❌ Вы уже использовали этот промокод.
promo-refused-wrong-plan = ❌ Промокод не действует для этого тарифа.
promo-refused-not-first-purchase = ❌ Промокод действует только на первую покупку.
promo-refused-wrong-currency = ❌ Промокод не даёт скидку при этом способе оплаты.
promo-refused-wrong-kind = ❌ Этот промокод здесь не применяется.
admin-promo-usage =
    /promo — список промокодов
    /promo new КОД percent|fixed|days ЗНАЧЕНИЕ [uses=N] [per_user=N] [until=ГГГГ-ММ-ДД] [first] [plans=a,b] [currency=USD]
    /promo off КОД
admin-promo-none = Промокодов пока нет. /promo new КОД percent 20 uses=100
admin-promo-list =
    <b>Промокоды</b> (использовано/лимит, +занято неоплаченными заказами)
    { $lines }
admin-promo-created = ✅ Создан: { $line }
admin-promo-disabled = ⛔ Промокод <code>{ $code }</code> отключён. Неоплаченные заказы с ним сохраняют цену.
admin-promo-not-found = Нет включённого промокода <code>{ $code }</code>.
admin-promo-error = ⚠️ Не создан: { $reason }
admin-promo-days = +{ $days } { $days ->
    [one] день
    [few] дня
   *[other] дней
}

## Подарки

btn-gift = 🎁 Подарить
gift-title =
    <b>🎁 Подарить подписку</b>
    Выберите тариф. После оплаты вы получите ссылку для передачи: дни достанутся тому, кто откроет её первым.
gift-pay-title =
    🎁 <b>{ $plan }</b> — { $days } { $days ->
        [one] день
        [few] дня
       *[other] дней
    } в подарок, { $price }
    Выберите способ оплаты:
gift-paid = ✅ Оплачено с баланса. Ссылка на подарок придёт отдельным сообщением.
gift-activated = 🎁 Подарок активирован: добавлено { $days } { $days ->
    [one] день
    [few] дня
   *[other] дней
}. Подписка действует до <b>{ $expires }</b>; ссылки придут отдельным сообщением.
gift-unknown = ❌ Эта ссылка на подарок недействительна.
gift-already-redeemed = ❌ Этот подарок уже активирован. Ссылка на подарок работает один раз.
gift-voided = ❌ Этот подарок отменён (оплата за него возвращена).
notify-gift-ready =
    🎁 Подарок готов: { $days } { $days ->
        [one] день
        [few] дня
       *[other] дней
    } доступа к VPN. Отправьте эту ссылку тому, кому дарите, — она работает один раз:
    { $link }
notify-gift-redeemed = 🎁 Ваш подарок на { $days } { $days ->
    [one] день
    [few] дня
   *[other] дней
} активирован. Спасибо!
notify-promo-used-up = ✅ Оплата прошла по цене со скидкой, хотя промокод закончился, пока вы платили. Больше ничего делать не нужно; поддержка в курсе.
notify-gift-refund-refused = ℹ️ Ваш подарок уже активирован, поэтому оплату за него вернуть нельзя. Поддержка в курсе и свяжется с вами при необходимости.
