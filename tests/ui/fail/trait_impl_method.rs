use cachelite::memoize;

trait Area {
    fn area(&self, scale: u64) -> u64;
}

struct Square;

impl Area for Square {
    #[memoize]
    fn area(&self, scale: u64) -> u64 {
        scale * scale
    }
}

fn main() {
    let _ = Square.area(2);
}
