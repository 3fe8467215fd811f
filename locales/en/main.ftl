# subvisor bot texts — English (the fallback language).
#
# Messages use Telegram HTML: only <b>, <i>, <code> and <a href="...">.
# Variables arrive already HTML-escaped. btn-*, cmd-*, invoice-* and
# precheckout-* are plain text (buttons, command menu, invoices, payment
# errors) and must not contain markup.
# $days, $days_left, $count and $ttl_minutes are numbers (plural selectors).

## Buttons

btn-buy = 🛒 Buy VPN
btn-renew = 🔄 Renew
btn-my-sub = 🔑 My subscription
btn-trial = 🎁 Free trial
btn-balance = 💰 Balance
btn-topup = ➕ Top up
btn-referral = 👥 Invite friends
btn-help = ❓ Help
btn-language = 🌐 Language
btn-back = ← Back
btn-menu = 🏠 Menu
btn-reissue = ♻️ New key
btn-reset-link = 🔗 New subscription link
btn-links = 📋 Links & QR code
btn-confirm = ✅ Confirm
btn-cancel = ✖️ Cancel
btn-pay-url = 💳 Pay with { $provider }
btn-plan = { $title } — { $price }
btn-provider-stars = ⭐ Telegram Stars
btn-provider-cryptobot = 🪙 Crypto Bot
btn-provider-nowpayments = 💎 Cryptocurrency
btn-provider-balance = 💰 From balance ({ $balance })
btn-topup-amount = + { $amount }
btn-grant = +{ $days } { $days ->
    [one] day
   *[other] days
}
btn-revoke = ⛔ Revoke access
btn-refund = ↩️ Refund { $amount }
btn-prev = ‹ Previous
btn-next = Next ›
btn-open-user = 👤 { $user }

## Main menu (the caller appends one status-* line)

menu-greeting =
    👋 Hi, { $name }!
    Fast, private VPN for your phone, tablet and computer.
status-active = ✅ Active until <b>{ $expires }</b> ({ $days_left } { $days_left ->
    [one] day
   *[other] days
} left).
status-expired = ⌛ Your access expired on { $expired_at }. Renew to reconnect.
status-revoked = ⛔ Your access has been revoked. If you think this is a mistake, please contact support.
status-none = You don't have a subscription yet — choose a plan and you'll be connected in a minute.

## Buying

plans-title =
    <b>Choose a plan</b>
    Access starts right after payment. If you already have a subscription, the new days are added on top.
plan-line = • <b>{ $title }</b> — { $days } { $days ->
    [one] day
   *[other] days
}, { $price }
pay-method-title =
    <b>{ $plan }</b> — { $days } { $days ->
        [one] day
       *[other] days
    }, { $price }
    How would you like to pay?
invoice-title = VPN — { $plan }
invoice-description = { $plan }: { $days } { $days ->
    [one] day
   *[other] days
} of VPN access. It starts as soon as the payment goes through.
invoice-label = VPN — { $plan }
pay-with-link =
    🧾 Your order for <b>{ $amount }</b> is ready. Tap the button below to pay with { $provider }.
    Access turns on automatically as soon as { $provider } confirms the payment — you don't need to send us anything.
    The payment link is valid for { $ttl_minutes } { $ttl_minutes ->
        [one] minute
       *[other] minutes
    }.
order-failed = Sorry, we couldn't create your order. Please try again in a minute.
provider-unavailable = This payment method is temporarily unavailable. Please choose another one.
insufficient-funds = Not enough funds: your balance is <b>{ $balance }</b> and the plan costs <b>{ $price }</b>. Top up your balance or choose another payment method.
purchases-paused = Purchases are paused for a short maintenance. Your current access keeps working — please try again a little later.
order-paid = ✅ Paid from your balance. Your keys and links are on their way in a separate message.

## Access and links

activated =
    ✅ <b>Your access is ready</b> for { $days } { $days ->
        [one] day
       *[other] days
    }, until <b>{ $expires }</b>.
    Tap «🚀 Connect» to add it to your VPN app.
extended =
    ✅ <b>Subscription extended</b> by { $days } { $days ->
        [one] day
       *[other] days
    }.
    Active until <b>{ $expires }</b>. Your links stay the same.
links-header =
    🔑 <b>Your connection</b>
    Add the subscription link to your VPN app — it keeps your servers up to date automatically.
sub-url =
    Subscription link (tap to copy):
    <code>{ $url }</code>
howto =
    <b>How to connect</b>
    1. Install an app:
      • Android — v2rayNG or Hiddify
      • iPhone / iPad — Streisand, FoXray or Hiddify
      • Windows / macOS — Hiddify or v2rayN
    2. Copy the subscription link and add it in the app (“import from clipboard”), or scan the QR code.
    3. Tap connect. That's it!
qr-caption = Scan this QR code in your VPN app to add the subscription.

## My subscription

sub-title = 🔑 <b>My subscription</b>
sub-active = Status: ✅ active until <b>{ $expires }</b> ({ $days_left } { $days_left ->
    [one] day
   *[other] days
} left)
sub-expired = Status: ⌛ expired on { $expired_at }. Renew to reconnect.
sub-revoked = Status: ⛔ revoked. Please contact support if you have questions.
sub-none = You don't have a subscription yet.
traffic-used = Traffic used: { $used }

## Reissue and reset

reissue-confirm =
    ♻️ <b>Get a new key?</b>
    Your current key will stop working right away and you'll get a new one. Do this if your key leaked or stopped connecting.
    If you use the subscription link, just refresh the subscription in your app afterwards.
reissued = ✅ Done — you have a new key; the old one no longer works. Refresh the subscription in your app (or tap «🚀 Connect» again).
reset-link-confirm =
    🔗 <b>Get a new subscription link?</b>
    The current link will stop working and you'll get a new one. Do this if you shared the link by mistake. You'll need to add the new link in your apps.
link-reset =
    ✅ Your new subscription link:
    <code>{ $url }</code>
    The old link and old QR codes no longer work — add the new link in your apps (tap «🚀 Connect»).
no-subscription = You don't have an active subscription. Choose a plan to get started.

## Trial

trial-started = 🎁 Your free trial has started: { $days } { $days ->
    [one] day
   *[other] days
} of full access. Enjoy!
trial-used = You've already used your free trial. Choose a plan to stay connected.
trial-disabled = Free trials are not available right now.

## Balance

balance-title =
    💰 <b>Balance:</b> { $balance }
balance-topup-hint = Top it up and pay for plans in one tap.
topup-title =
    ➕ <b>Top up your balance</b>
    Choose an amount:
topup-created = 🧾 Top-up of <b>{ $amount }</b> created. Tap the button below to pay — the money lands on your balance as soon as the payment is confirmed.

## Referrals

referral =
    👥 <b>Invite friends</b>
    Share your personal link. For every friend who joins with it and makes a purchase, you get <b>{ $bonus }</b> on your balance.
    Your link: <code>{ $link }</code>
    Friends invited: { $count }
referral-days =
    👥 <b>Invite friends</b>
    Share your personal link. For every friend who joins with it and makes a purchase, you get <b>{ $days } { $days ->
        [one] day
       *[other] days
    }</b> of VPN access.
    Your link: <code>{ $link }</code>
    Friends invited: { $count }
referral-no-bonus =
    👥 <b>Invite friends</b>
    Share your personal link with friends who need a reliable VPN.
    Your link: <code>{ $link }</code>
    Friends invited: { $count }

## Help

help-title = <b>What this bot can do</b>
help-buy = 🛒 Buy or renew VPN access
help-sub = 🔑 Show your subscription, links and QR code — /sub
help-reissue = ♻️ Give you a new key or subscription link if the old one leaked
help-trial = 🎁 Free trial to try before you buy
help-balance = 💰 Keep a balance to pay in one tap
help-referral = 👥 Personal link to invite friends
help-language = 🌐 Switch language: English / Русский
help-support = Questions or problems? Write to { $support } — we're happy to help.

## Command menu (plain text)

cmd-start = Start the bot
cmd-help = What this bot can do
cmd-menu = Main menu
cmd-sub = My subscription and links

## Language

language-title = 🌐 Choose your language:
language-set = Language set to English.

## Errors

button-expired = This button has expired. Please open the menu again.
rate-limited = Too many requests — please wait a few seconds.
error-generic = Something went wrong on our side. Please try again in a minute.
unknown-command = I don't know this command. Tap /menu to see what I can do.

## Telegram Stars checkout refusals (plain text)

precheckout-expired = This order has expired. Please create a new one in the bot.
precheckout-paid = This order has already been paid.
precheckout-mismatch = The price has changed. Please create a new order in the bot.
precheckout-paused = Purchases are paused for maintenance. Please try again later.
precheckout-unknown = Order not found. Please create a new one in the bot.

## Notifications

notify-activated = 🎉 Payment received — your VPN is active until <b>{ $expires }</b>. Open /sub for your links.
notify-extended = ✅ Payment received — your subscription is extended by { $days } { $days ->
    [one] day
   *[other] days
}, until <b>{ $expires }</b>.
notify-expired = ⌛ Your VPN access has expired. Renew now to reconnect in a minute — tap the button below.
notify-revoked = ⛔ Your VPN access has been revoked. If you think this is a mistake, please contact support.
notify-reissued = ♻️ Your key has been replaced — the old one no longer works. Refresh the subscription in your app.
notify-remind-3d = ⏰ Your VPN access ends in 3 days, on <b>{ $expires }</b>. Renew now to stay connected — the new days are added on top.
notify-remind-1d = ⏰ Your VPN access ends tomorrow, on <b>{ $expires }</b>. Renew now to stay connected.
notify-refunded = ↩️ A refund of <b>{ $amount }</b> has been issued.
notify-partially-paid = ⚠️ We received only part of your payment, so the order could not be completed automatically. Support will look into it — please don't pay again.
notify-topup = 💰 Your balance was topped up by <b>{ $amount }</b>. Balance: <b>{ $balance }</b>.
notify-referral-days = 🎁 A friend you invited made a purchase — you get <b>{ $days } { $days ->
    [one] day
   *[other] days
}</b> of VPN access, now until { $expires }. Thank you!
notify-referral-bonus = 🎁 A friend you invited made a purchase — <b>{ $amount }</b> has been added to your balance. Thank you!
notify-payment-flagged = ⚠️ We received your payment, but the amount doesn't match the order. Support will check it and get back to you — please don't pay again.
notify-payment-credited = 💰 We received a payment of <b>{ $amount }</b> that your order did not need, so it was added to your balance (now <b>{ $balance }</b>). You can spend it on your next purchase.
notify-payment-credited-underpaid = 💰 We received <b>{ $amount }</b> — less than the price of your order, so the order was not completed. The money was added to your balance (now <b>{ $balance }</b>).
notify-payment-returned = ↩️ You paid twice for the same order — the extra payment of <b>{ $amount }</b> has been sent back to you.
payment-delayed = ✅ Your payment is received and safe. Activation is taking a little longer than usual — you'll get a message as soon as it's done.

## Admin

admin-stats =
    📊 <b>Stats</b>
    Users: { $users } (active: { $active }, blocked the bot: { $blocked })

    <b>Revenue</b>
    { $revenue }

    <b>Nodes</b>
    { $nodes }
admin-users-title = 👥 <b>Users</b> — page { $page } of { $pages } ({ $total } total)
admin-user =
    👤 <b>User</b> <code>{ $user }</code> { $username }
    Status: { $status }
    Balance: { $balance }
    Joined: { $created }
    Orders: { $orders }

    <b>Recent actions</b>
    { $audit }
admin-granted = ✅ Granted { $days } { $days ->
    [one] day
   *[other] days
} to <code>{ $user }</code>. Active until <b>{ $expires }</b>.
admin-revoked = ⛔ Access revoked for <code>{ $user }</code>.
admin-revoke-confirm = Revoke access for <code>{ $user }</code>? Their key stops working immediately.
admin-refund-confirm = Refund order <code>{ $order }</code> ({ $amount })? This cannot be undone.
admin-refunded = ↩️ Order <code>{ $order }</code> refunded.
admin-refund-failed = ❌ Refund failed: { $reason }
admin-broadcast-usage = Usage: <code>/broadcast &lt;text&gt;</code> — sends the text, as plain text, to every user who has not blocked the bot. You'll see a preview first.
admin-broadcast-preview =
    📣 <b>Broadcast preview</b> — recipients: { $count }

    { $text }
admin-broadcast-progress =
    📣 Sending… { $done }/{ $total }
    Delivered: { $delivered } · blocked: { $blocked } · failed: { $failed }
admin-broadcast-report =
    📣 <b>Broadcast finished</b>
    Recipients: { $total }
    Delivered: { $delivered }
    Blocked the bot: { $blocked }
    Failed: { $failed }
admin-broadcast-cancelled = Broadcast cancelled.
admin-maintenance-on = 🛠 Maintenance mode is ON: new purchases are paused, existing access keeps working.
admin-maintenance-off = ✅ Maintenance mode is OFF: purchases are open again.
admin-maintenance-usage = Usage: <code>/maintenance on</code> or <code>/maintenance off</code>
admin-usage-grant = Usage: <code>/grant &lt;user id&gt; &lt;days&gt;</code>
admin-usage-revoke = Usage: <code>/revoke &lt;user id&gt;</code>
admin-usage-user = Usage: <code>/user &lt;user id&gt;</code>
admin-user-not-found = User <code>{ $user }</code> not found.
admin-cancelled = Cancelled.

## Admin alerts (the alerts outbox)

alert-payment-credited = 💰 <b>Unexpected payment credited</b>: user <code>{ $user }</code>, { $amount } ({ $reason }), order <code>{ $order }</code>.
alert-payment-returned = ↩️ <b>Payment sent back</b>: user <code>{ $user }</code>, { $amount } ({ $reason }), charge <code>{ $charge }</code>.
alert-payment-flagged = ⚠️ <b>Payment needs a look</b>: order <code>{ $order }</code>, user <code>{ $user }</code>: { $flag }.
alert-unknown-order = ⚠️ <b>Money for an unknown order</b>: { $provider } <code>{ $payment }</code>, { $amount }.
alert-refund-shortfall = ⚠️ <b>Refund could not take everything back</b>: user <code>{ $user }</code>, order <code>{ $order }</code> ({ $what }), short by { $shortfall }.
alert-worker-crash-loop = 🔥 <b>Background worker crash-looping</b>: <code>{ $worker }</code> restarted { $restarts } times; last failure: { $failure }. See /ops/workers.

## Devices (x-hwid)

btn-devices = 📱 Devices
btn-device-remove = ✖️ Remove { $name }
btn-reset-devices = 📱 Reset devices ({ $count })
devices-title-limit = 📱 <b>Devices</b>: { $count }/{ $limit }
devices-title = 📱 <b>Devices</b>: { $count }
devices-none = No device has fetched your subscription with a device id yet.
device-line = • <b>{ $name }</b> · { $os } · last seen { $seen }
device-unnamed = device { $id }
device-remove-confirm =
    ✖️ <b>Remove { $name }?</b>
    It will stop getting servers at its next refresh, and its slot is free for another device.
device-removed = ✅ Device removed.
admin-devices-reset-confirm = 📱 Forget every device of <code>{ $user }</code>? Their apps register again on their next refresh.
admin-devices-reset = ✅ { $count } { $count ->
    [one] device
   *[other] devices
} of <code>{ $user }</code> forgotten.

## Status card

btn-connect = 🚀 Connect
btn-copy-link = 📋 Copy link
btn-qr = 📷 QR code
btn-keys = 🔑 Show keys
btn-apps = 📱 Apps
card-devices-limit = Devices: { $count } of { $limit }
card-devices = Devices: { $count }
card-connect-hint = Tap «🚀 Connect»: the page that opens adds the subscription to your app in one tap.
link-title =
    📋 <b>Your subscription link</b>
    Tap it to copy, then add it in your VPN app (“Import from clipboard”):
    <code>{ $url }</code>
keys-title =
    🔑 <b>Your keys</b>
    For apps without subscription support. The subscription link is better: it keeps your servers up to date.
keys-none = No keys yet.
apps-title =
    📱 <b>VPN apps</b>
    Install one, then come back and tap «🚀 Connect».
apps-line = <b>{ $platform }</b>: { $apps }

## Support

btn-support = 💬 Support
cmd-paysupport = Help with payments
cmd-terms = Terms of service
support-contact = Support: { $support }
support-contact-none = Write to us in this chat with /help.
terms-default =
    📄 <b>Terms of service</b>
    You buy access to a VPN service for the period of the plan you choose. Access starts right after payment and ends when the period is over; renew to keep it. Don't use the service for anything illegal or share your links with others: access can be revoked for abuse. Refunds are possible when the service could not be provided.
paysupport-default =
    💳 <b>Help with payments</b>
    If a payment went through but your access did not start, or you were charged twice, write to support with the date and amount: we check every case and refund when the service could not be provided. Stars payments can be refunded to your Telegram account.
media-reply = 🤖 I can't read photos, stickers or voice messages. Use the buttons below, or write to support if you need a person.

## Bans

banned = ⛔ Access to this service is closed for your account. If you think this is a mistake, contact support.
trial-new-users = 🎁 The free trial is for new users. Choose a plan to stay connected.
admin-banned = ⛔ <code>{ $user }</code> is banned: access revoked, no buying and no trial until /unban.
admin-unbanned = ✅ <code>{ $user }</code> is unbanned.
admin-usage-ban = Usage: /ban &lt;user id&gt; or /unban &lt;user id&gt;
# One open invoice per purchase.
invoice-below = ⬇️ Your invoice is below: pay it there. Pressing Pay again does not send another one.
invoice-paid = ✅ Paid. Your keys and links arrive in a separate message.
precheckout-superseded = A newer invoice for this purchase was sent: please pay the latest one.


# Admin screens for people.
btn-back-to-users = ← Back to the list
admin-sub-active = active until { $expires }
admin-sub-expired = expired on { $expires }
admin-sub-revoked = revoked
admin-order-topup = balance top-up
admin-provider-balance = from balance
admin-order-pending = awaiting payment
admin-order-paid = paid
admin-order-expired = expired unpaid
admin-order-failed = failed
admin-order-refunded = refunded
admin-by-user = the user
admin-by-admin = admin { $id }
admin-by-ops = ops API
admin-by-system = the service
admin-action-first-contact = first started the bot
admin-action-create-order = created an order
admin-action-close-order = order closed unpaid
admin-action-apply-payment = payment received
admin-action-payment-credited = payment credited to the balance
admin-action-payment-return-queued = payment to be sent back
admin-action-payment-returned = payment sent back
admin-action-stray-payment-flagged = payment without an order flagged for review
admin-action-flag-order = order flagged for review
admin-action-refund-order = order refunded
admin-action-adjust-balance = balance adjusted
admin-action-grant-days = days granted
admin-action-revoke = access revoked
admin-action-expire = access expired
admin-action-start-trial = trial started
admin-action-reissue = key replaced
admin-action-rotate-sub-token = subscription link reset
admin-action-referral-bonus = referral bonus
admin-action-referral-reversed = referral bonus taken back
admin-action-device-added = new device
admin-action-device-removed = device removed
admin-action-devices-reset = devices reset
admin-action-gift-created = gift created
admin-action-gift-redeemed = gift activated
admin-action-gift-voided = gift cancelled
admin-action-promo-used = promo code used
admin-action-reset-traffic = traffic reset
admin-action-set-auto-renew = auto-renewal changed
admin-action-traffic-limited = paused for traffic
admin-action-traffic-unlimited = traffic available again
admin-grant-bad-arguments = ❌ Give a user id and a number of days, nothing more.
admin-grant-bad-user = ❌ The first argument must be a numeric Telegram user id.
admin-grant-bad-days = ❌ Days must be a whole number.
admin-grant-days-range = ❌ Days must be between 1 and { $max }.
admin-grant-unknown-confirm = ⚠️ User <code>{ $user }</code> has never started the bot: they cannot receive their link until they do. Grant { $days } { $days ->
    [one] day
   *[other] days
} anyway (they will also receive broadcasts)?
admin-node-up = up
admin-node-down = down
admin-node-unknown = not checked yet
admin-grant-already = ✅ Already done: this button granted user <code>{ $user }</code> their days on the first press.
alert-purchase = 🛒 <b>Purchase</b>: user <code>{ $user }</code> paid { $amount } ({ $provider }) for { $what }.

## Auto-renewal from the balance.
btn-auto-renew-on = 🔁 Auto-renew from balance: on
btn-auto-renew-off = 🔁 Auto-renew from balance: off
auto-renew-enabled =
    🔁 <b>Auto-renewal is on.</b> { $plan } ({ $price }) will be bought from your balance { $hours } { $hours ->
        [one] hour
       *[other] hours
    } before your subscription ends. If the balance is short, we will remind you.
auto-renew-disabled = 🔁 Auto-renewal is off.
auto-renew-no-plan = 🔁 Auto-renewal buys the plan you last paid for again, from your balance. Buy a plan first, then turn it on.
notify-auto-renewed =
    ✅ <b>Renewed from balance:</b> { $days } { $days ->
        [one] day
       *[other] days
    }, −{ $price }. Balance: <b>{ $balance }</b>. Active until { $expires }.
notify-auto-renew-short = ⚠️ Auto-renewal could not renew your subscription: it costs <b>{ $price }</b>, your balance is <b>{ $balance }</b>. Top up before { $expires } and it renews by itself.
notify-auto-renew-unpayable = ⚠️ Auto-renewal cannot renew your plan from the balance any more. Your subscription ends on { $expires }: choose a plan to renew it.
# Traffic
notify-traffic-low = 📶 You have used <b>{ $used }</b> of your <b>{ $total }</b> traffic for this period.
notify-traffic-exhausted = ⛔ Your <b>{ $total }</b> of traffic for this period is used up, so access is paused. Buy a traffic pack or renew to continue.
notify-traffic-exhausted-resets = ⛔ Your <b>{ $total }</b> of traffic for this period is used up, so access is paused until <b>{ $resets }</b>. Buy a traffic pack to continue now.
notify-traffic-added = 📶 <b>{ $amount }</b> of traffic added to this period.
notify-traffic-restored = ✅ Traffic is available again — your access is back on.
card-traffic = 📶 { $bar } { $used } / { $total }
card-traffic-resets = 📶 { $bar } { $used } / { $total }, resets { $resets }
card-traffic-limited = ⛔ Traffic for this period is used up: access is paused.
btn-buy-traffic = 📶 Buy traffic
traffic-packs-title = 📶 <b>Traffic packs</b>
    Extra traffic for the current period. Choose a pack:
admin-traffic = Traffic this period: { $used } / { $total }
btn-admin-traffic-reset = 📶 Reset traffic
admin-traffic-reset-done = Traffic reset: the period starts again.
admin-traffic-reset-confirm = Reset the traffic of this period for user { $user }? Access comes back if it was paused for traffic.
pack-line = • <b>{ $title }</b> — { $size }, { $price }
pack-pay-title = <b>{ $title }</b> — { $size } of traffic for the current period, { $price }. How would you like to pay?
admin-stats-traffic =
    <b>Traffic</b>
    Today: { $today } · this month: { $month } · paused for traffic: { $limited }
invoice-description-pack = { $plan }: { $size } of traffic for the current period
## Promo codes

btn-promo = 🏷 Have a promo code?
btn-promo-retry = 🏷 Another code
promo-ask = Send the promo code for <b>{ $plan }</b> as a message.
promo-applied =
    🏷 Code <b>{ $code }</b> applied to <b>{ $plan }</b>:
    { $prices }
    Choose how to pay:
promo-price-line = • { $provider }: <b>{ $price }</b> instead of <i>{ $list }</i>
promo-days-redeemed = 🎉 The code added free days: your subscription now runs until <b>{ $expires }</b>. Your links are on their way in a separate message.
promo-refused-unknown = ❌ There is no such promo code. Check the spelling and try again.
promo-refused-disabled = ❌ This promo code has been switched off.
promo-refused-expired = ❌ This promo code has expired.
promo-refused-used-up = ❌ This promo code has been used up.
promo-refused-already-used = ❌ You have already used this promo code.
promo-refused-wrong-plan = ❌ This promo code does not apply to this plan.
promo-refused-not-first-purchase = ❌ This promo code is for a first purchase only.
promo-refused-wrong-currency = ❌ This promo code cannot discount this payment method.
promo-refused-wrong-kind = ❌ This promo code cannot be used here.
admin-promo-usage =
    /promo — the codes
    /promo new CODE percent|fixed|days VALUE [uses=N] [per_user=N] [until=YYYY-MM-DD] [first] [plans=a,b] [currency=USD]
    /promo off CODE
admin-promo-none = No promo codes yet. /promo new CODE percent 20 uses=100
admin-promo-list =
    <b>Promo codes</b> (used/limit, +held by unpaid orders)
    { $lines }
admin-promo-created = ✅ Created: { $line }
admin-promo-disabled = ⛔ Code <code>{ $code }</code> is switched off. Unpaid orders that hold it keep their price.
admin-promo-not-found = No enabled promo code <code>{ $code }</code>.
admin-promo-error = ⚠️ Not created: { $reason }
admin-promo-days = +{ $days } { $days ->
    [one] day
   *[other] days
}

## Gifts

btn-gift = 🎁 Gift
gift-title =
    <b>🎁 Gift a subscription</b>
    Choose a plan. After paying you get a link to pass on: whoever opens it first gets the days.
gift-pay-title =
    🎁 <b>{ $plan }</b> — { $days } { $days ->
        [one] day
       *[other] days
    } as a gift, { $price }
    Choose how to pay:
gift-paid = ✅ Paid from your balance. The gift link is on its way in a separate message.
gift-activated = 🎁 Gift activated: { $days } { $days ->
    [one] day
   *[other] days
} added. Your subscription runs until <b>{ $expires }</b>; your links are on their way in a separate message.
gift-unknown = ❌ This gift link is not valid.
gift-already-redeemed = ❌ This gift has already been activated. A gift link works once.
gift-voided = ❌ This gift was cancelled (its payment was refunded).
notify-gift-ready =
    🎁 Your gift is ready: { $days } { $days ->
        [one] day
       *[other] days
    } of VPN access. Send this link to the person you are giving it to — it works once:
    { $link }
notify-gift-redeemed = 🎁 Your gift of { $days } { $days ->
    [one] day
   *[other] days
} has been activated. Thank you!
notify-promo-used-up = ✅ Your payment went through at the promo price, though the code ran out while you were paying. Nothing else to do; support has been told.
notify-gift-refund-refused = ℹ️ Your gift has already been activated, so its payment cannot be refunded. Support has been told and will contact you if needed.
