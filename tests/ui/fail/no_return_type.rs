use cachelite::memoize;

#[memoize]
fn log(line: &str) {
    println!("{line}");
}

fn main() {
    log("a");
}
