use cachelite::memoize;

#[derive(Clone, PartialEq, Eq)]
struct Filter {
    field: String,
}

#[memoize]
fn count(table: &str, filter: Filter) -> u64 {
    (table.len() + filter.field.len()) as u64
}

fn main() {
    count("users", Filter { field: "id".into() });
}
