use cachelite::memoize;

#[memoize(tags_from_result = |a: &u32, b: &u32| [format!("{a}{b}")])]
fn double(n: u32) -> u32 {
    n * 2
}

fn main() {
    double(1);
}
