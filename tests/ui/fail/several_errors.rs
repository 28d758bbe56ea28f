use cachelite::memoize;

#[memoize(ttl = 0, capacity = 0, bogus, policy = "mru")]
fn user<T>(_id: T) {}

fn main() {
    user(1);
}
