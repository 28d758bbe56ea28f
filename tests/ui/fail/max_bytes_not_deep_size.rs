use cachelite::memoize;

#[derive(Clone)]
struct Page {
    body: String,
}

#[memoize(max_bytes = 1_000_000)]
fn page(id: u64) -> Page {
    Page {
        body: id.to_string(),
    }
}

fn main() {
    let _ = page(1).body;
}
