use cachelite::memoize;

struct Report {
    lines: Vec<String>,
}

#[memoize]
fn report(id: u64) -> Report {
    Report {
        lines: vec![id.to_string()],
    }
}

fn main() {
    let _ = report(1).lines;
}
