use cachelite::memoize;

struct Account {
    id: u64,
}

impl Account {
    // The macro sees `self.id`, not its type: the key's type is declared.
    #[memoize(key = (self.id, amount))]
    fn interest(&self, amount: u64) -> u64 {
        amount + self.id
    }
}

fn main() {
    let _ = Account { id: 1 }.interest(100);
}
