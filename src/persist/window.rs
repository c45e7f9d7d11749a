//! A learned quota window as `state.json` keeps it: times as epoch seconds, and the
//! source (a probe or an answer's headers) only when it is not the default.

use super::{epoch_secs, from_epoch_secs};
use crate::bounds;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// A learned quota window, with times as epoch seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedWindow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
    /// `true` when a quota probe learned it (absent: an answer's headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed: Option<bool>,
    /// When it was learned, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_at: Option<u64>,
}

impl SavedWindow {
    pub fn from_window(w: &crate::quota::Window) -> SavedWindow {
        SavedWindow {
            name: w.name.clone(),
            scope: w.scope.clone(),
            limit: w.limit,
            remaining: w.remaining,
            utilization: w.utilization,
            resets_at: w.resets_at.map(epoch_secs),
            rejected: (w.status == Some(crate::quota::WindowStatus::Rejected)).then_some(true),
            minutes: w.minutes,
            probed: (w.source == crate::quota::Source::Probe).then_some(true),
            learned_at: w.learned_at.map(epoch_secs),
        }
    }

    /// The window, or `None` when its reset is not an instant keypool would keep (beyond
    /// [`bounds::MAX_HORIZON`] from `now`, or beyond what the platform represents).
    pub fn to_window(&self, now: SystemTime) -> Option<crate::quota::Window> {
        let resets_at = match self.resets_at {
            None => None,
            Some(s) => Some(from_epoch_secs(s).filter(|at| bounds::within_horizon(*at, now))?),
        };
        Some(crate::quota::Window {
            name: self.name.clone(),
            scope: self.scope.clone(),
            limit: self.limit,
            remaining: self.remaining,
            utilization: self.utilization.filter(|u| u.is_finite()),
            resets_at,
            status: self.rejected.map(|_| crate::quota::WindowStatus::Rejected),
            minutes: self.minutes,
            source: match self.probed {
                Some(true) => crate::quota::Source::Probe,
                _ => crate::quota::Source::Headers,
            },
            // A learning time in the future is a clock that went back: unknown.
            learned_at: self
                .learned_at
                .and_then(from_epoch_secs)
                .filter(|at| *at <= now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_1_8e9() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
    }

    /// A probed window is still a probed one after a restart, and keeps when it was
    /// learned; one learned "in the future" (the clock went back) has no age.
    #[test]
    fn a_window_keeps_its_source_and_learning_time() {
        use crate::quota::{Source, Window};
        let now = at_1_8e9();
        let learned = now - std::time::Duration::from_secs(90);
        let w = Window::named("5h").learned(Source::Probe, learned);
        let saved = SavedWindow::from_window(&w);
        assert_eq!(
            (saved.probed, saved.learned_at),
            (Some(true), Some(1_799_999_910))
        );
        assert_eq!(saved.to_window(now), Some(w));
        let heard = SavedWindow::from_window(&Window::named("7d"));
        assert_eq!((heard.probed, heard.learned_at), (None, None));
        let ahead = SavedWindow {
            learned_at: Some(1_800_000_100),
            ..saved
        };
        assert_eq!(ahead.to_window(now).unwrap().learned_at, None);
    }

    #[test]
    fn a_rejected_window_is_saved_as_rejected_and_only_that_one() {
        use crate::quota::{Window, WindowStatus};
        let now = at_1_8e9();
        let window = |status| Window {
            status,
            utilization: Some(0.5),
            ..Window::named("5h")
        };
        for (status, rejected) in [
            (Some(WindowStatus::Rejected), Some(true)),
            (Some(WindowStatus::Allowed), None),
            (Some(WindowStatus::AllowedWarning), None),
            (None, None),
        ] {
            let saved = SavedWindow::from_window(&window(status));
            assert_eq!(saved.rejected, rejected, "{status:?}");
            let back = saved.to_window(now).unwrap().status;
            let kept = status.filter(|s| *s == WindowStatus::Rejected);
            assert_eq!(back, kept, "{status:?}");
        }
    }
}
