use cachelite::memoize;

#[memoize(tags_from_result = |ids: &Vec<u32>| ids.len())]
fn users(page: u32) -> Vec<u32> {
    vec![page]
}

fn main() {
    users(1);
}
