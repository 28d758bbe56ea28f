use cachelite::memoize;

struct Counter {
    n: u64,
}

impl Counter {
    #[memoize]
    fn bump(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }
}

fn main() {
    Counter { n: 0 }.bump(1);
}
