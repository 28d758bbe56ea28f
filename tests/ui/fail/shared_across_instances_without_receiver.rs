use cachelite::memoize;

#[memoize(shared_across_instances)]
fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    square(2);
}
