use cachelite::memoize;

#[memoize]
fn total(words: Vec<&str>) -> usize {
    words.len()
}

fn main() {
    total(vec!["a"]);
}
