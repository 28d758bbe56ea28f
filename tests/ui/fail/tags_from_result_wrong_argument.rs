use cachelite::memoize;

#[memoize(tags_from_result = |ids: &Vec<u32>| ids.iter().map(|i| format!("user:{i}")).collect::<Vec<_>>())]
fn users(page: u32) -> Result<Vec<String>, String> {
    Ok(vec![page.to_string()])
}

fn main() {
    let _ = users(1);
}
