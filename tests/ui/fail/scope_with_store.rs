use cachelite::memoize;

#[memoize(store = USERS_REDIS, scope(org = org))]
fn prefs(org: u64, user: u64) -> String {
    (org + user).to_string()
}

fn main() {
    let _ = prefs(1, 2);
}
