use cachelite::memoize;

#[memoize(scope(org = org, org = user))]
fn prefs(org: u64, user: u64) -> u64 {
    org + user
}

fn main() {
    prefs(1, 2);
}
