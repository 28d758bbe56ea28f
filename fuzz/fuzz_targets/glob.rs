//! `Glob` against a plain reference matcher written from Redis's
//! `stringmatchlen`: the same answer for every pattern and text. A matcher
//! that backtracked exponentially would trip libFuzzer's `-timeout`.
#![no_main]

use cachelite::Glob;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 0 byte separates the pattern from the text.
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let pattern = String::from_utf8_lossy(&data[..split]);
    let text = String::from_utf8_lossy(data.get(split + 1..).unwrap_or_default());
    let Ok(glob) = Glob::new(&pattern) else {
        assert!(pattern.len() > Glob::MAX_PATTERN_LEN);
        return;
    };
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // The reference is quadratic in memory; keep it small.
    if p.len() * (t.len() + 1) > 1 << 20 {
        let _ = glob.is_match(&text);
        return;
    }
    let expected = Reference::new(&p, &t).matches(0, 0);
    assert_eq!(
        glob.is_match(&text),
        expected,
        "pattern {pattern:?} text {text:?}"
    );
    if glob.is_match(&text) {
        assert!(text.starts_with(glob.literal_prefix()));
    }
});

/// Redis's recursive matcher, on chars, memoized over (pattern, text)
/// positions so it stays polynomial.
struct Reference<'a> {
    p: &'a [char],
    t: &'a [char],
    memo: Vec<Option<bool>>,
}

impl<'a> Reference<'a> {
    fn new(p: &'a [char], t: &'a [char]) -> Self {
        Self {
            p,
            t,
            memo: vec![None; (p.len() + 1) * (t.len() + 1)],
        }
    }

    fn matches(&mut self, pi: usize, ti: usize) -> bool {
        let slot = pi * (self.t.len() + 1) + ti;
        if let Some(known) = self.memo[slot] {
            return known;
        }
        let answer = self.compute(pi, ti);
        self.memo[slot] = Some(answer);
        answer
    }

    fn compute(&mut self, pi: usize, ti: usize) -> bool {
        let (p, t) = (self.p, self.t);
        if pi == p.len() {
            return ti == t.len();
        }
        if p[pi] == '*' {
            return self.matches(pi + 1, ti) || (ti < t.len() && self.matches(pi, ti + 1));
        }
        let Some(&c) = t.get(ti) else {
            return false;
        };
        match p[pi] {
            '?' => self.matches(pi + 1, ti + 1),
            '[' => {
                let (hit, next) = class(p, pi + 1, c);
                hit && self.matches(next, ti + 1)
            }
            '\\' if pi + 1 < p.len() => p[pi + 1] == c && self.matches(pi + 2, ti + 1),
            lit => lit == c && self.matches(pi + 1, ti + 1),
        }
    }
}

/// A bracket expression starting after its `[` at `i`: whether it accepts
/// `c`, and where the pattern continues. Follows `stringmatchlen` step by
/// step.
fn class(p: &[char], mut i: usize, c: char) -> (bool, usize) {
    let not = p.get(i) == Some(&'^');
    if not {
        i += 1;
    }
    let mut hit = false;
    loop {
        let left = p.len() - i;
        if left == 0 {
            break;
        }
        if p[i] == '\\' && left >= 2 {
            i += 1;
            hit |= p[i] == c;
        } else if p[i] == ']' {
            i += 1;
            break;
        } else if left >= 3 && p[i + 1] == '-' {
            let (mut lo, mut hi) = (p[i], p[i + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= lo <= c && c <= hi;
            i += 2;
        } else {
            hit |= p[i] == c;
        }
        i += 1;
    }
    (hit != not, i)
}
