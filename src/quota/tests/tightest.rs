//! [`tightest`] and [`Window::pressure`].

use super::*;

fn win(name: &str, utilization: Option<f64>, resets_in: Option<u64>) -> Window {
    Window {
        utilization,
        resets_at: resets_in.and_then(|s| at(NOW_SECS + s)),
        ..Window::named(name)
    }
}

#[test]
fn tightest_is_the_fullest_then_the_latest_reset() {
    assert_eq!(tightest(&[]), None);
    let ws = [
        win("a", Some(0.2), Some(10)),
        win("b", Some(0.9), Some(10)),
        win("c", Some(0.5), Some(1000)),
    ];
    assert_eq!(tightest(&ws).unwrap().name, "b");
    // Ties: the later reset binds longer.
    let ws = [
        win("early", Some(1.0), Some(60)),
        win("late", Some(1.0), Some(600)),
        win("unknown", Some(1.0), None),
    ];
    assert_eq!(tightest(&ws).unwrap().name, "late");
    // Above 1.0 beats 1.0.
    let ws = [
        win("over", Some(1.03), Some(1)),
        win("full", Some(1.0), Some(9)),
    ];
    assert_eq!(tightest(&ws).unwrap().name, "over");
    // A rejected window binds even without a utilization; a window that says nothing
    // about its fill ranks last but is still returned.
    let rejected = Window {
        status: Some(WindowStatus::Rejected),
        ..win("rejected", None, Some(5))
    };
    let ws = [win("half", Some(0.5), Some(50)), rejected];
    assert_eq!(tightest(&ws).unwrap().name, "rejected");
    let ws = [win("blank", None, Some(99)), win("low", Some(0.0), Some(1))];
    assert_eq!(tightest(&ws).unwrap().name, "low");
    let ws = [win("blank", None, Some(99))];
    assert_eq!(tightest(&ws).unwrap().name, "blank");
}

#[test]
fn pressure_combines_utilization_remaining_and_status() {
    let mut w = win("w", Some(0.4), None);
    assert_eq!(w.pressure(), Some(0.4));
    w.status = Some(WindowStatus::AllowedWarning);
    assert_eq!(w.pressure(), Some(0.4));
    w.status = Some(WindowStatus::Rejected);
    assert_eq!(w.pressure(), Some(1.0));
    w.utilization = Some(1.2);
    assert_eq!(w.pressure(), Some(1.2));
    let w = Window {
        remaining: Some(0),
        ..win("w", None, None)
    };
    assert_eq!(w.pressure(), Some(1.0));
    assert_eq!(win("w", None, Some(1)).pressure(), None);
}
