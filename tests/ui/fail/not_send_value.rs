use cachelite::memoize;
use std::rc::Rc;

#[memoize]
fn shared(id: u64) -> Rc<u64> {
    Rc::new(id)
}

fn main() {
    shared(1);
}
