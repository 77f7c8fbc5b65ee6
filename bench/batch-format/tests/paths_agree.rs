//! Every path computes the same W1 outputs: the sinks' digests agree.

use batch_format_bench::pipeline::{self, Path};
use batch_format_bench::state::Digest;
use batch_format_bench::w1::KeyKind;
use batch_format_bench::{own, rows};

fn digest<P: Path>(mut p: P) -> Digest {
    pipeline::run(&mut p, 50_000).digest
}

#[test]
fn rows_own_and_arrow_give_the_same_outputs() {
    for keys in [KeyKind::I64, KeyKind::Str] {
        let expected = digest(rows::Rows::new(keys));
        assert_eq!(expected.running_rows, 50_000);
        assert_eq!(digest(own::Own::new(keys)), expected);
        assert_eq!(digest(own::Own::with_encoding(keys, false)), expected);
        #[cfg(feature = "arrow")]
        {
            use batch_format_bench::arrow_path::{ArrowPath, StrLayout};
            assert_eq!(digest(ArrowPath::new(keys, StrLayout::Utf8)), expected);
            assert_eq!(digest(ArrowPath::new(keys, StrLayout::View)), expected);
        }
    }
}
