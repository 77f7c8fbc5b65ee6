//! Property tests: any event stream within the watermark lag, cut into any batches, gives
//! the naive reference's windows.

use super::test_support::*;
use super::window_tests::{aligned_reference, session_reference};
use crate::operators::build_stage;
use proptest::prelude::*;
use quiver_protocol::spec::WindowSpec;
use std::time::Duration;

fn window_strategy() -> impl Strategy<Value = (WindowSpec, i64, i64)> {
    prop_oneof![
        (1u64..300).prop_map(|s| (
            WindowSpec::Tumbling {
                size: Duration::from_millis(s)
            },
            s as i64,
            s as i64
        )),
        (1u64..300, 1u64..300).prop_map(|(a, b)| {
            let (slide, size) = (a.min(b), a.max(b));
            (
                WindowSpec::Sliding {
                    size: Duration::from_millis(size),
                    slide: Duration::from_millis(slide),
                },
                size as i64,
                slide as i64,
            )
        }),
        // Odd gaps: event times are even, so none lands exactly on a session's end.
        (0u64..150).prop_map(|g| (
            WindowSpec::Session {
                gap: Duration::from_millis(2 * g + 1)
            },
            2 * g as i64 + 1,
            0
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn windows_match_reference(
        n in 0usize..400,
        keys in 1u64..12,
        disorder in 0i64..80,
        seed in any::<u64>(),
        batch in 1usize..50,
        (window, size, slide) in window_strategy(),
    ) {
        let input = events(n, keys, disorder, seed);
        let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(16)).expect("build");
        let (out, late) = run(op.as_mut(), &input, batch, disorder);
        prop_assert!(late.is_empty());
        prop_assert!(out.windows(2).all(|w| w[0].event_time <= w[1].event_time));
        let expected = match window {
            WindowSpec::Session { .. } => session_reference(&input, size),
            _ => aligned_reference(&input, size, slide),
        };
        prop_assert_eq!(sorted(&out), sorted(&expected));
    }
}
