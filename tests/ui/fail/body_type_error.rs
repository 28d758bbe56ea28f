use cachelite::memoize;

#[memoize]
async fn user(id: u8) -> Result<u32, String> {
    let n: u8 = id.checked_add(1).ok_or("overflow")?;
    Ok(n)
}

fn main() {
    let _ = user(1);
}
