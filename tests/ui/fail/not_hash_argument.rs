use cachelite::memoize;

#[derive(Clone, PartialEq)]
struct Query {
    weight: f64,
}

#[memoize]
fn score(q: Query) -> u64 {
    q.weight as u64
}

fn main() {
    score(Query { weight: 1.0 });
}
