use cachelite::memoize;

#[memoize]
fn greet(name: impl AsRef<str>, times: usize) -> String {
    name.as_ref().repeat(times)
}

fn main() {
    let _ = greet("hi", 2);
}
