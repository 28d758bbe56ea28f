use cachelite::memoize;
use std::sync::Arc;

struct Repo;

impl Repo {
    #[memoize]
    fn get(self: Arc<Self>, id: u64) -> u64 {
        id
    }
}

fn main() {
    let _ = Arc::new(Repo).get(1);
}
