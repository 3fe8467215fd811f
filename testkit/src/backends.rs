//! Running one test body on both database backends: [`Backend`] and the
//! [`both_backends!`](crate::both_backends) macro.

pub use subvisor_actors::store::Backend;

/// Runs async test bodies once per backend, as two tests each.
///
/// For every `name` given, the calling module must define
/// `async fn name(backend: Backend)`; the macro adds a module `name` with the
/// tests `sqlite` and `postgres` (`#[actix_rt::test]`, so the calling crate
/// needs `actix-rt`) that call it with [`Backend::Sqlite`] and
/// [`Backend::Postgres`].
///
/// ```text
/// subvisor_testkit::both_backends!(grants_add_up, refunds_are_recorded);
///
/// async fn grants_add_up(backend: Backend) { /* … */ }
/// ```
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_rt::test]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[actix_rt::test]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )+
    };
}
