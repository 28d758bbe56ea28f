use cachelite::memoize;

#[derive(Clone)]
struct User {
    id: u64,
}

impl User {
    #[memoize]
    fn load(id: u64) -> Option<Self> {
        Some(User { id })
    }
}

fn main() {
    let _ = User::load(1).map(|u| u.id);
}
