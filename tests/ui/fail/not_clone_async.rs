use cachelite::memoize;

struct Report {
    lines: Vec<String>,
}

#[memoize]
async fn report(id: u64) -> Result<Report, String> {
    Ok(Report {
        lines: vec![id.to_string()],
    })
}

fn main() {
    let _ = report(1);
}
