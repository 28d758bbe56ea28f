use cachelite::memoize;

struct Token(u64);

impl Token {
    #[memoize]
    fn value(self) -> u64 {
        self.0
    }
}

fn main() {
    Token(1).value();
}
