use cachelite::memoize;

// One mistake in the attribute is one error: the fn and its accessors
// still exist, so their call sites add none.
#[memoize(tll = 60)]
fn user(id: u64) -> u64 {
    id
}

struct Repo;

impl Repo {
    #[memoize(capacity = 0)]
    fn get(&self, id: u64) -> u64 {
        id
    }
}

fn main() {
    user(1);
    user_cache_clear();
    let _ = user_cache_info().stats.len;
    let _ = user_cache_invalidate(1);
    let _ = user_cache().get(&1);
    let _ = Repo.get(1);
    let _ = Repo::get_cache().len();
    let _ = Repo.get_cache_invalidate(1);
}
