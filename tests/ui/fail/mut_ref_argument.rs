use cachelite::memoize;

#[memoize]
fn fill(id: u64, buf: &mut Vec<u64>) -> usize {
    buf.push(id);
    buf.len()
}

fn main() {
    fill(1, &mut Vec::new());
}
