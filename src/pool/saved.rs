//! What of the pools goes to `state.json` and comes back after a restart.

use super::{Health, Pools};
use crate::persist::{self, AccountState, Persisted, SavedHealth};
use std::time::SystemTime;

impl Pools {
    /// What should survive a restart: running cooldowns and disabled flags, each tied to a
    /// fingerprint of the credential it was learned with.
    pub fn snapshot(&self, now: SystemTime) -> Persisted {
        let mut p = Persisted::default();
        for a in &self.accounts {
            let Some(credential) = a.fingerprint() else {
                continue;
            };
            let health = match a.health(now) {
                Health::Ok => None,
                Health::Cooling { until, cause } => Some(SavedHealth::Cooling {
                    until: persist::epoch_secs(until),
                    cause,
                }),
                Health::Disabled { reason } => Some(SavedHealth::Disabled {
                    reason,
                    terminal: None,
                }),
                Health::Ended { rule, reason } => Some(SavedHealth::Disabled {
                    reason,
                    terminal: Some(rule),
                }),
            };
            let quota: Vec<persist::window::SavedWindow> = a
                .quota(now)
                .iter()
                .map(persist::window::SavedWindow::from_window)
                .collect();
            if health.is_none() && quota.is_empty() {
                continue;
            }
            p.accounts.insert(
                a.name.clone(),
                AccountState {
                    credential,
                    health,
                    quota,
                },
            );
        }
        p
    }

    /// Applies saved state: a cooldown still running, a disabled flag, each only when the
    /// account still has the credential it was learned with (a fixed key or a new login
    /// starts clean). An account disabled now (its key cannot be resolved) stays so.
    pub fn restore(&self, saved: &Persisted, now: SystemTime) {
        for a in &self.accounts {
            let Some(s) = saved.accounts.get(&a.name) else {
                continue;
            };
            if a.fingerprint().as_deref() != Some(s.credential.as_str()) {
                continue;
            }
            a.learn(s.quota.iter().filter_map(|w| w.to_window(now)).collect());
            let mut h = a.health.lock();
            if !matches!(*h, Health::Ok) {
                continue;
            }
            match &s.health {
                None => {}
                Some(SavedHealth::Cooling { until, cause }) => {
                    // `StateFile::load` dropped absurd values with a warning; a cooldown
                    // still never outlasts the longest one keypool gives.
                    let Some(until) = persist::from_epoch_secs(*until) else {
                        continue;
                    };
                    let until =
                        until.min(crate::bounds::cool_until(now, crate::bounds::MAX_COOLDOWN));
                    if until > now {
                        *h = Health::Cooling {
                            until,
                            cause: cause.clone(),
                        };
                    }
                }
                Some(SavedHealth::Disabled {
                    reason,
                    terminal: None,
                }) => {
                    *h = Health::Disabled {
                        reason: reason.clone(),
                    };
                }
                // A restart is no fix: the account stays out until a reload or a probe.
                Some(SavedHealth::Disabled {
                    reason,
                    terminal: Some(rule),
                }) => {
                    *h = Health::Ended {
                        rule: rule.clone(),
                        reason: reason.clone(),
                    };
                }
            }
        }
    }
}
