/// A capability a hook asks the host for. The operator grants capabilities
/// per hook (`--hooks-config`); a hook gets those it asked for *and* was
/// granted, and a call that needs one it lacks stops the hook with code 141.
///
/// ```
/// use cloudcode_sdk::{Capability, Manifest};
/// let m = Manifest::new()
///     .function("logoutEverywhere")
///     .capability(Capability::SessionsRevoke);
/// assert_eq!(m.capabilities(), [Capability::SessionsRevoke]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `sessions:read`: [`crate::sessions::list_for_user`].
    SessionsRead,
    /// `sessions:revoke`: [`crate::sessions::revoke`] and
    /// [`crate::sessions::revoke_all_for_user`].
    SessionsRevoke,
    /// `sessions:rotate`: [`crate::sessions::rotate_current`].
    SessionsRotate,
    /// `log`: the [`crate::log`] functions.
    Log,
}

/// A lifecycle event a hook can run on, besides its cloud functions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// After every successful create or update of the named class
    /// ([`crate::Hooks::after_save`]).
    AfterSave(String),
    /// After the password is verified, before the session is created
    /// ([`crate::Hooks::before_login`]); an error refuses the login.
    BeforeLogin,
    /// After a login or signup created a session ([`crate::Hooks::after_login`]).
    AfterLogin,
    /// After a session ended, for whatever reason
    /// ([`crate::Hooks::after_session_end`]).
    AfterSessionEnd,
}

/// What a hook component serves (cloud functions, triggers) and what it
/// asks the host for (capabilities).
///
/// ```
/// use cloudcode_sdk::{Capability, Manifest, Trigger};
/// let m = Manifest::new()
///     .function("hello")
///     .after_save("_User")
///     .after_login()
///     .capability(Capability::Log);
/// assert_eq!(m.functions(), ["hello"]);
/// assert_eq!(m.triggers(), [Trigger::AfterSave("_User".into()), Trigger::AfterLogin]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    functions: Vec<String>,
    triggers: Vec<Trigger>,
    capabilities: Vec<Capability>,
}

impl Manifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves the cloud function `name` (`POST /functions/<name>`).
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.functions.push(name.into());
        self
    }

    /// Runs [`crate::Hooks::after_save`] after every create or update of `class_name`.
    pub fn after_save(self, class_name: impl Into<String>) -> Self {
        self.trigger(Trigger::AfterSave(class_name.into()))
    }

    /// Runs [`crate::Hooks::before_login`] before every login.
    pub fn before_login(self) -> Self {
        self.trigger(Trigger::BeforeLogin)
    }

    /// Runs [`crate::Hooks::after_login`] after every login and signup.
    pub fn after_login(self) -> Self {
        self.trigger(Trigger::AfterLogin)
    }

    /// Runs [`crate::Hooks::after_session_end`] after every session ends.
    pub fn after_session_end(self) -> Self {
        self.trigger(Trigger::AfterSessionEnd)
    }

    /// Runs on `trigger`.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        if !self.triggers.contains(&trigger) {
            self.triggers.push(trigger);
        }
        self
    }

    /// Asks for `capability`.
    pub fn capability(mut self, capability: Capability) -> Self {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }

    /// The cloud function names.
    pub fn functions(&self) -> &[String] {
        &self.functions
    }

    /// The triggers.
    pub fn triggers(&self) -> &[Trigger] {
        &self.triggers
    }

    /// The `afterSave` class names.
    pub fn after_save_classes(&self) -> Vec<&str> {
        self.triggers
            .iter()
            .filter_map(|t| match t {
                Trigger::AfterSave(class) => Some(class.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The capabilities asked for.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }
}
