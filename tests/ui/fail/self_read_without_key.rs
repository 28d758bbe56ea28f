use cachelite::memoize;

struct Account {
    id: u64,
    rate: u64,
}

impl Account {
    #[memoize]
    fn interest(&self, amount: u64) -> u64 {
        amount * self.rate / 100
    }
}

fn main() {
    let a = Account { id: 1, rate: 5 };
    let _ = (a.id, a.interest(100));
}
