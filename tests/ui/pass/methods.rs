//! Methods, associated fns and lifetimes.

use cachelite::memoize;

struct Repo {
    prefix: String,
}

impl Repo {
    #[memoize(key: (String, u64) = (self.prefix.clone(), id))]
    fn get(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }

    #[memoize(key = format!("{}{id}", self.prefix))]
    async fn fetch(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }

    #[memoize]
    fn parse(text: &str) -> Option<u64> {
        let _ = Self::helper();
        text.parse().ok()
    }

    fn helper() -> u8 {
        0
    }
}

#[memoize]
fn longest<'a>(a: &'a str, b: &'a str) -> usize {
    a.len().max(b.len())
}

fn main() {
    let repo = Repo {
        prefix: "u:".into(),
    };
    let _ = repo.get(1);
    let _ = futures::executor::block_on(repo.fetch(1));
    let _ = Repo::parse("5");
    Repo::get_cache_clear();
    let _ = repo.get_cache_invalidate(1);
    let _ = repo.fetch_cache_invalidate(1);
    let _ = Repo::parse_cache_invalidate("5");
    let _ = longest("a", "bc");
    let _ = longest_cache_invalidate("a", "bc");
}
