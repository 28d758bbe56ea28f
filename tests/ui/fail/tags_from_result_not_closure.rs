use cachelite::memoize;

#[memoize(tags_from_result = ["users"])]
fn users(page: u32) -> Vec<u32> {
    vec![page]
}

fn main() {
    users(1);
}
