//! Redis-compatible glob patterns, as used by `KEYS` and `SCAN ... MATCH`.
//!
//! The dialect is the one implemented by Redis's `stringmatchlen` (`util.c`):
//!
//! | syntax   | meaning                                                        |
//! |----------|----------------------------------------------------------------|
//! | `*`      | any sequence of characters, including the empty one            |
//! | `?`      | exactly one character                                          |
//! | `[abc]`  | one character out of the set                                   |
//! | `[^abc]` | one character *not* in the set                                 |
//! | `[a-z]`  | one character in the inclusive range (`[z-a]` is the same set) |
//! | `\x`     | the character `x` literally, outside and inside brackets       |
//!
//! Patterns are compiled once into a small token list ([`Glob`]) and matched
//! with the classic iterative two-pointer algorithm that remembers only the
//! most recent `*`. Matching is therefore `O(pattern.len() * text.len())` in the
//! worst case and never backtracks exponentially, whatever the pattern.

use std::error::Error;
use std::fmt;

/// A compiled Redis-style glob pattern.
///
/// Build one with [`Glob::new`] and test keys with [`Glob::is_match`]. The
/// syntax and semantics are those of Redis's `KEYS` / `SCAN ... MATCH`
/// (`stringmatchlen` in Redis's `util.c`); see the notes below for the few
/// places where a choice had to be made.
///
/// # Semantics
///
/// * `*` matches any sequence of characters (including none); runs of
///   consecutive `*` are collapsed into one.
/// * `?` matches exactly one character.
/// * `[...]` matches one character from a set of characters and inclusive
///   ranges such as `a-z`. A reversed range (`[z-a]`) is swapped, as Redis
///   does. A leading `^` negates the set. Inside the brackets `\x` stands for
///   the character `x` (and never starts a range), and a `]` right after the
///   opening `[` (or `[^`) closes the set, so `[]` matches nothing and `[^]`
///   matches any one character, exactly as in Redis.
/// * A `-` is a range only when it sits between two characters, so `[-a]` and
///   `[a-` contain a literal `-`. As in Redis the character after the `-` is
///   taken verbatim, even when it is `]` or `\`: `[a-]` is an (unclosed) set
///   holding the range `]`..=`a`.
/// * An unclosed `[` is closed by the end of the pattern, as in Redis: `[ab`
///   matches `a` or `b`, `[` alone matches nothing and `[^` matches any one
///   character.
/// * `\x` matches `x` literally; a trailing lone `\` matches a backslash.
/// * Matching is case-sensitive.
///
/// Two deliberate, documented choices:
///
/// * **Characters, not bytes.** Redis compares bytes; this type compares
///   Unicode scalar values (`char`s). For ASCII patterns and keys the two are
///   identical. For non-ASCII text, `?` matches one whole character (`"?"`
///   matches `"é"`, Redis would need `"??"`), sets and ranges contain whole
///   characters and compare by code point.
/// * **Empty text.** A pattern made only of `*` (and the empty pattern)
///   matches the empty string, consistently with `KEYS *` returning the empty
///   key. Redis 7's matcher itself answers "no" for `**` against an empty key;
///   Redis 6 and earlier answered "yes", as this type does. Every other
///   pattern needs at least one character, exactly as in Redis.
///
/// Redis also gives up (answers "no match") once its recursive matcher nests
/// more than 1000 stars deep; this matcher is iterative, has no such cut-off,
/// and always gives the exact answer.
///
/// # Examples
///
/// ```
/// use cachelite_runtime::Glob;
///
/// let glob = Glob::new("user:[0-9]*:session")?;
/// assert!(glob.is_match("user:42:session"));
/// assert!(!glob.is_match("user:x:session"));
/// assert_eq!(glob.literal_prefix(), "user:");
/// assert!(!glob.is_literal());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// The pattern exactly as given to [`Glob::new`].
    pattern: String,
    /// The compiled pattern; consecutive stars are already collapsed.
    tokens: Box<[Token]>,
    /// The characters of the leading [`Token::Literal`] run, unescaped.
    prefix: String,
    /// How many leading tokens `prefix` was built from.
    prefix_tokens: usize,
}

/// One element of a compiled pattern. Every variant but [`Token::Star`]
/// consumes exactly one character of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Exactly this character.
    Literal(char),
    /// `?`: any single character.
    Any,
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `[...]`: one character in (or, when negated, not in) a set.
    Class(Class),
}

/// A bracket expression: a union of inclusive character ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    /// `true` for `[^...]`.
    negated: bool,
    /// Inclusive `(low, high)` ranges with `low <= high`; a single character
    /// `c` is stored as `(c, c)`. May be empty (`[]`, `[`), in which case the
    /// class matches nothing, or everything when negated.
    ranges: Box<[(char, char)]>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        let found = self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        found != self.negated
    }
}

impl Token {
    /// Whether this single-character token accepts `c`. Never called for
    /// [`Token::Star`], which the matcher handles itself.
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::Class(class) => class.contains(c),
            Token::Star => false,
        }
    }
}

impl Glob {
    /// The longest pattern, in bytes, that [`Glob::new`] accepts.
    ///
    /// Redis itself accepts patterns of any length; the limit only exists to
    /// bound the cost of a single match, which grows with the product of the
    /// pattern and key lengths. It is far beyond any realistic key pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use cachelite_runtime::Glob;
    ///
    /// assert!(Glob::new(&"*".repeat(Glob::MAX_PATTERN_LEN)).is_ok());
    /// assert!(Glob::new(&"*".repeat(Glob::MAX_PATTERN_LEN + 1)).is_err());
    /// ```
    pub const MAX_PATTERN_LEN: usize = 4096;

    /// Compiles `pattern`.
    ///
    /// Like Redis, this accepts every pattern syntax, malformed ones
    /// included: an unclosed `[` is closed by the end of the pattern and a
    /// trailing `\` stands for itself (see the [type-level
    /// documentation](Glob) for the exact rules).
    ///
    /// # Errors
    ///
    /// Returns a `GlobError` if `pattern` is longer than
    /// [`Glob::MAX_PATTERN_LEN`] bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use cachelite_runtime::Glob;
    ///
    /// let glob = Glob::new("h?llo")?;
    /// assert!(glob.is_match("hello"));
    /// assert!(glob.is_match("hallo"));
    /// assert!(!glob.is_match("hllo"));
    ///
    /// // Malformed patterns are accepted, as Redis accepts them.
    /// assert!(Glob::new("[unclosed").is_ok());
    /// // Absurdly long ones are not.
    /// assert!(Glob::new(&"a".repeat(10_000)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.len() > Self::MAX_PATTERN_LEN {
            return Err(GlobError { len: pattern.len() });
        }
        Ok(Self::compile(pattern))
    }

    /// Compiles `pattern` without the length check.
    fn compile(pattern: &str) -> Glob {
        let tokens = tokenize(pattern);
        let prefix: String = tokens
            .iter()
            .map_while(|token| match token {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect();
        let prefix_tokens = prefix.chars().count();
        Glob {
            pattern: pattern.to_owned(),
            tokens: tokens.into_boxed_slice(),
            prefix,
            prefix_tokens,
        }
    }

    /// Reports whether `text` matches the whole pattern.
    ///
    /// Runs in `O(pattern.len() * text.len())` time in the worst case,
    /// without allocating, and in `O(text.len())` or better for the common
    /// literal, `prefix*` and `*` patterns.
    ///
    /// # Examples
    ///
    /// ```
    /// use cachelite_runtime::Glob;
    ///
    /// let glob = Glob::new("*.png")?;
    /// assert!(glob.is_match("logo.png"));
    /// assert!(glob.is_match(".png"));
    /// assert!(!glob.is_match("logo.png.bak"));
    ///
    /// // Escapes make special characters literal.
    /// let glob = Glob::new(r"what\?")?;
    /// assert!(glob.is_match("what?"));
    /// assert!(!glob.is_match("whats"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_match(&self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        let tokens = &self.tokens[self.prefix_tokens..];
        let Some(last_star) = tokens.iter().rposition(|token| *token == Token::Star) else {
            // No star: every token consumes exactly one character.
            return match_fixed(tokens, rest);
        };
        // The tokens after the last star are star-free, so they must match
        // exactly the last `suffix.len()` characters of the text; the star
        // then absorbs whatever the earlier tokens leave over. Anchoring the
        // suffix first keeps `*.png`-like patterns linear.
        let (head, suffix) = tokens.split_at(last_star + 1);
        let split = match suffix.len() {
            0 => rest.len(),
            n => match rest.char_indices().rev().nth(n - 1) {
                Some((offset, _)) => offset,
                None => return false,
            },
        };
        match_fixed(suffix, &rest[split..]) && match_tokens(head, &rest[..split])
    }

    /// Returns the pattern this glob was compiled from, verbatim.
    ///
    /// # Examples
    ///
    /// ```
    /// use cachelite_runtime::Glob;
    ///
    /// let glob = Glob::new(r"user:\*:[ab]")?;
    /// assert_eq!(glob.pattern(), r"user:\*:[ab]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Returns the literal text every match must start with: the unescaped
    /// characters before the first `*`, `?` or `[`.
    ///
    /// Any text accepted by [`Glob::is_match`] starts with this prefix, so it
    /// can be used to narrow a scan over sorted keys before matching. It is
    /// empty when the pattern starts with a wildcard.
    ///
    /// # Examples
    ///
    /// ```
    /// use cachelite_runtime::Glob;
    ///
    /// assert_eq!(Glob::new("user:*")?.literal_prefix(), "user:");
    /// assert_eq!(Glob::new(r"a\*b?")?.literal_prefix(), "a*b");
    /// assert_eq!(Glob::new("*:session")?.literal_prefix(), "");
    /// assert_eq!(Glob::new("plain")?.literal_prefix(), "plain");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn literal_prefix(&self) -> &str {
        &self.prefix
    }

    /// Reports whether the pattern contains no wildcard at all (escaped
    /// characters count as literal). A literal glob matches exactly one text:
    /// its [`literal_prefix`](Glob::literal_prefix).
    ///
    /// # Examples
    ///
    /// ```
    /// use cachelite_runtime::Glob;
    ///
    /// let glob = Glob::new(r"order\*42")?;
    /// assert!(glob.is_literal());
    /// assert_eq!(glob.literal_prefix(), "order*42");
    ///
    /// assert!(!Glob::new("order:*")?.is_literal());
    /// assert!(!Glob::new("order:[0-9]")?.is_literal());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_literal(&self) -> bool {
        self.prefix_tokens == self.tokens.len()
    }
}

/// Matches `text` against `pattern` without keeping the compiled form.
///
/// Same semantics as [`Glob::is_match`]; unlike [`Glob::new`] there is no
/// length limit (Redis never rejects a pattern), so the caller is responsible
/// for bounding the pattern length if the input is untrusted. Compile a
/// [`Glob`] instead when the same pattern is matched against many keys.
///
/// # Examples
///
/// ```text
/// glob_match("user:*", "user:42")  == true
/// glob_match("[^a]?", "ab")        == false
/// ```
#[allow(
    dead_code,
    reason = "crate-internal convenience; the public API is `Glob`"
)]
#[must_use]
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    Glob::compile(pattern).is_match(text)
}

/// The error returned by [`Glob::new`] for a pattern it refuses to compile:
/// one longer than [`Glob::MAX_PATTERN_LEN`] bytes.
///
/// # Examples
///
/// ```
/// use cachelite_runtime::Glob;
///
/// let err = Glob::new(&"x".repeat(5000)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "glob pattern is 5000 bytes long, more than the maximum of 4096 bytes",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError {
    /// Length in bytes of the rejected pattern.
    len: usize,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "glob pattern is {} bytes long, more than the maximum of {} bytes",
            self.len,
            Glob::MAX_PATTERN_LEN
        )
    }
}

impl Error for GlobError {}

/// Compiles a pattern into tokens, following the way Redis's
/// `stringmatchlen` reads it. Never fails: every string is a pattern.
fn tokenize(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
                i += 1;
            }
            '?' => {
                tokens.push(Token::Any);
                i += 1;
            }
            '[' => {
                let (class, next) = parse_class(&chars, i + 1);
                tokens.push(Token::Class(class));
                i = next;
            }
            '\\' if i + 1 < chars.len() => {
                tokens.push(Token::Literal(chars[i + 1]));
                i += 2;
            }
            // Includes a trailing lone `\`, which Redis compares literally.
            c => {
                tokens.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    tokens
}

/// Parses a bracket expression whose body starts at `chars[start]` (just
/// after the `[`). Returns the class and the index just past it.
///
/// The order of the checks is Redis's: an escape first, then the closing
/// `]`, then a range `x-y`, then a plain character. Running out of pattern
/// closes the class.
fn parse_class(chars: &[char], start: usize) -> (Class, usize) {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        match chars[i..] {
            [] => break,
            ['\\', c, ..] => {
                ranges.push((c, c));
                i += 2;
            }
            [']', ..] => {
                i += 1;
                break;
            }
            [a, '-', b, ..] => {
                ranges.push((a.min(b), a.max(b)));
                i += 3;
            }
            [c, ..] => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    let class = Class {
        negated,
        ranges: ranges.into_boxed_slice(),
    };
    (class, i)
}

/// Matches a star-free token list: `text` must have exactly one character
/// per token, each accepted by its token.
fn match_fixed(tokens: &[Token], text: &str) -> bool {
    let mut chars = text.chars();
    tokens
        .iter()
        .all(|token| chars.next().is_some_and(|c| token.accepts(c)))
        && chars.next().is_none()
}

/// The general matching loop: walks `tokens` and `text` together,
/// remembering only the position right after the most recent `*` (and where
/// in the text that star's match currently ends). On a mismatch the star
/// absorbs one more character and matching resumes from there.
///
/// A single resume point suffices because every other token consumes exactly
/// one character: letting an earlier star absorb more text can never help
/// once a later star exists, since the later star could absorb that text
/// instead. Each resume moves the star's end forward, so the loop runs at
/// most `tokens.len()` steps per character of `text`.
fn match_tokens(tokens: &[Token], text: &str) -> bool {
    // `p` indexes `tokens`; `t` is a byte offset into `text`, always on a
    // character boundary.
    let (mut p, mut t) = (0, 0);
    // `(token index after the star, byte offset where the star's match ends)`.
    let mut resume: Option<(usize, usize)> = None;
    while let Some(c) = text[t..].chars().next() {
        match tokens.get(p) {
            // A final star absorbs whatever is left.
            Some(Token::Star) if p + 1 == tokens.len() => return true,
            Some(Token::Star) => {
                p += 1;
                resume = Some((p, t));
                continue;
            }
            Some(token) if token.accepts(c) => {
                p += 1;
                t += c.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((star_p, star_t)) = resume else {
            return false;
        };
        // `star_t < text.len()`: it is either where a star was met (inside
        // the loop) or a previous resume point that the loop continued from.
        let Some(absorbed) = text[star_t..].chars().next() else {
            return false;
        };
        p = star_p;
        t = star_t + absorbed.len_utf8();
        resume = Some((p, t));
    }
    // The text is used up: only stars may remain. Making an earlier star
    // absorb more text cannot help, since every remaining non-star token
    // would still need a character of its own.
    tokens[p..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// `(pattern, text, expected)`, with expectations taken from Redis's
    /// `stringmatchlen` (byte semantics and char semantics agree on these,
    /// except for the explicitly Unicode cases).
    const CASES: &[(&str, &str, bool)] = &[
        // Empty pattern and empty text.
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        ("?", "", false),
        ("[a]", "", false),
        ("[^a]", "", false),
        ("[^a]*", "", false),
        ("\\", "", false),
        // Stars alone.
        ("*", "", true),
        ("**", "", true),
        ("***", "", true),
        ("*", "a", true),
        ("*", "anything at all", true),
        ("**", "abc", true),
        // Literals.
        ("hello", "hello", true),
        ("hello", "hell", false),
        ("hello", "hello!", false),
        ("hello", "Hello", false),
        ("HELLO", "hello", false),
        // `?` counts characters.
        ("?", "a", true),
        ("?", "ab", false),
        ("??", "ab", true),
        ("??", "a", false),
        ("???", "abc", true),
        ("h?llo", "hello", true),
        ("h?llo", "hllo", false),
        ("?*", "", false),
        ("?*", "a", true),
        ("*?", "abc", true),
        ("a?*", "a", false),
        // Prefix, suffix and infix stars.
        ("user:*", "user:", true),
        ("user:*", "user:42", true),
        ("user:*", "user", false),
        ("user:*", "users:42", false),
        ("*.png", "logo.png", true),
        ("*.png", ".png", true),
        ("*.png", "logo.png.bak", false),
        ("a*b", "ab", true),
        ("a*b", "axxxb", true),
        ("a*b", "axxxbc", false),
        ("a*b", "abab", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "axbxcx", false),
        ("a*b*c", "axbxcxc", true),
        ("*a*", "bab", true),
        ("*a*", "bbb", false),
        ("a**b", "axb", true),
        ("*:*:*", "a:b:c", true),
        ("*:*:*", "a:b", false),
        ("a*", "a", true),
        ("a**", "a", true),
        ("*ab", "aab", true),
        ("*aab", "aaab", true),
        ("*abab", "ababab", true),
        // Sets.
        ("[abc]", "a", true),
        ("[abc]", "c", true),
        ("[abc]", "d", false),
        ("[abc]", "ab", false),
        ("h[ae]llo", "hello", true),
        ("h[ae]llo", "hallo", true),
        ("h[ae]llo", "hillo", false),
        ("[*]", "*", true),
        ("[*]", "a", false),
        ("[?]", "?", true),
        ("[?]", "a", false),
        ("[[]", "[", true),
        ("[a^]", "^", true),
        ("[-a]", "-", true),
        ("[a-]", "-", false),
        // Negated sets.
        ("[^a]", "b", true),
        ("[^a]", "a", false),
        ("[^abc]", "d", true),
        ("[^abc]", "b", false),
        ("h[^e]llo", "hallo", true),
        ("h[^e]llo", "hello", false),
        ("[^a-c]x", "dx", true),
        ("[^a-c]x", "bx", false),
        ("[^^]", "^", false),
        ("[^^]", "a", true),
        // Ranges, including reversed ones.
        ("[a-c]", "b", true),
        ("[a-c]", "d", false),
        ("[0-9][0-9]", "42", true),
        ("[0-9][0-9]", "4x", false),
        ("[c-a]", "b", true),
        ("[c-a]", "d", false),
        ("[z-a]", "m", true),
        ("[a-a]", "a", true),
        ("[a-cx-z]", "y", true),
        ("[a-cx-z]", "m", false),
        ("[--a]", "-", true),
        ("[--a]", "_", true),
        ("[a-c-e]", "-", true),
        ("[a-c-e]", "d", false),
        // `]` right after `[` closes the set: `[]` is empty and matches
        // nothing, `[^]` matches any one character.
        ("[]", "", false),
        ("[]", "]", false),
        ("[]", "a", false),
        ("[]a]", "a]", false),
        ("[]a]", "]", false),
        ("[^]", "x", true),
        ("[^]", "]", true),
        ("[^]", "", false),
        ("[^]a", "za", true),
        // Escapes outside brackets.
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("\\?", "?", true),
        ("\\?", "a", false),
        ("\\[", "[", true),
        ("\\[a]", "[a]", true),
        ("\\[a]", "a", false),
        ("\\\\", "\\", true),
        ("\\\\", "\\\\", false),
        ("\\a", "a", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("\\*x*", "*xyz", true),
        ("\\**", "*abc", true),
        ("\\**", "abc", false),
        // Escapes inside brackets.
        ("[\\]]", "]", true),
        ("[\\]]", "\\", false),
        ("[\\^]", "^", true),
        ("[\\^a]", "b", false),
        ("[\\-]", "-", true),
        ("[\\\\]", "\\", true),
        ("[a\\-z]", "-", true),
        ("[a\\-z]", "m", false),
        ("[\\a-c]", "-", true),
        ("[\\a-c]", "b", false),
        ("[^\\]]", "]", false),
        ("[^\\]]", "a", true),
        // The end of a range is taken verbatim, even `]` or `\`.
        ("[a-]", "]", true),
        ("[a-]", "_", true),
        ("[a-]x", "x", true),
        // `[a-\]` is the range `\`..=`a`, closed by the first `]`; the
        // second `]` is a literal.
        ("[a-\\]]", "^", false),
        ("[a-\\]]", "^]", true),
        ("[a-\\]]", "]]", true),
        ("[a-\\]]", "a]", true),
        ("[a-\\]]", "b]", false),
        // Unclosed brackets: the end of the pattern closes the set.
        ("[", "", false),
        ("[", "[", false),
        ("[", "a", false),
        ("[abc", "a", true),
        ("[abc", "c", true),
        ("[abc", "d", false),
        ("[abc", "[abc", false),
        ("x[abc", "xb", true),
        ("[^", "a", true),
        ("[^", "^", true),
        ("[^", "ab", false),
        ("[^ab", "c", true),
        ("[^ab", "a", false),
        ("[a-", "a", true),
        ("[a-", "-", true),
        ("[a-", "b", false),
        ("[a-c", "b", true),
        ("[\\", "\\", true),
        ("[\\]", "]", true),
        ("[\\]", "\\", false),
        ("[a*", "*", true),
        ("[a*", "ab", false),
        // Trailing backslash matches a backslash.
        ("\\", "\\", true),
        ("\\", "a", false),
        ("a\\", "a\\", true),
        ("a\\", "a", false),
        ("*\\", "abc\\", true),
        // Unicode: `?` and sets work on whole characters.
        ("?", "é", true),
        ("??", "é", false),
        ("caf?", "café", true),
        ("caf[éè]", "café", true),
        ("caf[^é]", "café", false),
        ("[α-ω]", "λ", true),
        ("[α-ω]", "a", false),
        ("*ß", "straß", true),
        ("日本*", "日本語", true),
        ("*語", "日本語", true),
        ("?本?", "日本語", true),
        ("\\é", "é", true),
        ("🦀*", "🦀rust", true),
        ("?rust", "🦀rust", true),
    ];

    #[test]
    fn redis_semantics_table() {
        assert!(CASES.len() >= 40);
        for &(pattern, text, expected) in CASES {
            let glob = Glob::new(pattern).unwrap();
            assert_eq!(
                glob.is_match(text),
                expected,
                "Glob::new({pattern:?}).is_match({text:?})"
            );
            assert_eq!(
                glob_match(pattern, text),
                expected,
                "glob_match({pattern:?}, {text:?})"
            );
        }
    }

    #[test]
    fn reference_agrees_with_table() {
        // Guards the reference matcher used by the randomized test: it must
        // reproduce every hand-checked Redis answer.
        for &(pattern, text, expected) in CASES {
            assert_eq!(
                reference(pattern, text),
                expected,
                "reference({pattern:?}, {text:?})"
            );
        }
    }

    #[test]
    fn literal_prefix_and_is_literal() {
        // (pattern, literal_prefix, is_literal)
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("abc", "abc", true),
            ("user:*", "user:", false),
            ("user:*:name", "user:", false),
            ("*", "", false),
            ("*abc", "", false),
            ("?abc", "", false),
            ("[a]bc", "", false),
            ("ab?c", "ab", false),
            ("ab[c]", "ab", false),
            ("ab[", "ab", false),
            ("\\*", "*", true),
            ("a\\*b", "a*b", true),
            ("a\\*b*", "a*b", false),
            ("\\\\x", "\\x", true),
            ("\\[x]", "[x]", true),
            ("x\\", "x\\", true),
            ("\\", "\\", true),
            ("]", "]", true),
            ("^-", "^-", true),
            ("café*", "café", false),
            ("日本", "日本", true),
        ];
        for &(pattern, prefix, literal) in cases {
            let glob = Glob::new(pattern).unwrap();
            assert_eq!(glob.literal_prefix(), prefix, "prefix of {pattern:?}");
            assert_eq!(glob.is_literal(), literal, "is_literal of {pattern:?}");
            assert_eq!(glob.pattern(), pattern);
            if literal {
                assert!(glob.is_match(prefix), "{pattern:?} matches its literal");
            }
        }
    }

    #[test]
    fn consecutive_stars_are_collapsed() {
        let glob = Glob::new("a***b**").unwrap();
        let stars = glob.tokens.iter().filter(|t| **t == Token::Star).count();
        assert_eq!(stars, 2);
        assert_eq!(glob.tokens.len(), 4);
        // An escaped star between stars is a literal, not a collapsed star.
        let glob = Glob::new("*\\**").unwrap();
        assert_eq!(
            &*glob.tokens,
            &[Token::Star, Token::Literal('*'), Token::Star]
        );
    }

    #[test]
    fn length_limit() {
        let max = "a".repeat(Glob::MAX_PATTERN_LEN);
        assert!(Glob::new(&max).unwrap().is_match(&max));

        let too_long = "a".repeat(Glob::MAX_PATTERN_LEN + 1);
        let err = Glob::new(&too_long).unwrap_err();
        assert_eq!(err, GlobError { len: 4097 });
        assert_eq!(
            err.to_string(),
            "glob pattern is 4097 bytes long, more than the maximum of 4096 bytes"
        );
        // Usable as a boxed error.
        let boxed: Box<dyn Error + Send + Sync> = Box::new(err.clone());
        assert_eq!(boxed.to_string(), err.to_string());

        // The limit counts bytes, not characters.
        let multibyte = "é".repeat(Glob::MAX_PATTERN_LEN / 2 + 1);
        assert!(Glob::new(&multibyte).is_err());

        // The convenience function, like Redis, has no limit.
        assert!(glob_match(&too_long, &too_long));
    }

    #[test]
    fn glob_is_a_well_behaved_value() {
        fn assert_traits<T: Send + Sync + Clone + Eq + std::fmt::Debug + 'static>() {}
        assert_traits::<Glob>();
        assert_traits::<GlobError>();

        let a = Glob::new("user:[0-9]*").unwrap();
        let b = a.clone();
        assert_eq!(a, b);
        assert_ne!(a, Glob::new("user:[0-9]?").unwrap());
        assert!(format!("{a:?}").contains("user:[0-9]*"));
    }

    fn assert_fast(pattern: &str, text: &str, expected: bool) {
        let glob = Glob::new(pattern).unwrap();
        for via_glob_match in [false, true] {
            let start = Instant::now();
            let matched = if via_glob_match {
                glob_match(pattern, text)
            } else {
                glob.is_match(text)
            };
            let elapsed = start.elapsed();
            assert_eq!(matched, expected, "{pattern:?}");
            assert!(
                elapsed < Duration::from_secs(1),
                "{pattern:?} against {} chars took {elapsed:?}",
                text.chars().count()
            );
        }
    }

    #[test]
    fn hostile_patterns_run_in_polynomial_time() {
        let a10k = "a".repeat(10_000);
        assert_fast("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &a10k, false);
        assert_fast("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", &a10k, true);
        assert_fast("*?*?*?*?*?*?*?*?*?*?*?x", &a10k, false);
        assert_fast("*?*?*?*?*?*?*?*?*?*?*?a", &a10k, true);
        assert_fast(&"*a".repeat(200), &a10k, true);
        assert_fast(&format!("{}b", "*a".repeat(200)), &a10k, false);
        assert_fast(&format!("{}*", "?".repeat(4_000)), &a10k, true);
        assert_fast(&format!("*{}", "?".repeat(4_000)), &a10k, true);
        assert_fast(&format!("*{}", "a".repeat(1_000)), &a10k, true);
        assert_fast(&format!("*{}b", "a".repeat(1_000)), &a10k, false);
        // An infix segment that almost matches everywhere is the genuine
        // `O(pattern * text)` worst case: about 10_000 * 100 steps here.
        assert_fast(&format!("*{}b*", "a".repeat(100)), &a10k, false);
        assert_fast(&format!("*{}*", "a".repeat(1_000)), &a10k, true);

        let mixed: String = "ab".repeat(5_000);
        assert_fast("*[ab]*[^c]*?*[a-b]*c", &mixed, false);
        assert_fast("*a*b*a*b*a*b*a*b*a*b*a*b*a*b*a*b*x*", &mixed, false);

        // The longest pattern `Glob::new` accepts, against a long key.
        let long_pattern = "*a".repeat(Glob::MAX_PATTERN_LEN / 2 - 1) + "*b";
        assert_fast(&long_pattern, &a10k, false);
    }

    // ----- Randomized comparison against a reference matcher -----

    /// A direct, recursive transcription of Redis 7's `stringmatchlen`
    /// (case-sensitive), working on `char`s instead of bytes and without the
    /// `skipLongerMatches` shortcut or the nesting cut-off, which only affect
    /// speed. Exponential in the number of stars: small inputs only.
    ///
    /// The one intended difference from Redis is the empty text, which the
    /// Redis loop never enters: there `glob` lets all-star patterns match,
    /// where Redis 7 only lets the empty pattern match (and `KEYS *` / `SCAN`
    /// short-circuit a lone `*`).
    fn reference(pattern: &str, text: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let s: Vec<char> = text.chars().collect();
        if s.is_empty() {
            return p.iter().all(|&c| c == '*');
        }
        redis_stringmatch(&p, &s)
    }

    fn redis_stringmatch(mut p: &[char], mut s: &[char]) -> bool {
        while !p.is_empty() && !s.is_empty() {
            match p[0] {
                '*' => {
                    while p.len() > 1 && p[1] == '*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    return (0..s.len()).any(|i| redis_stringmatch(&p[1..], &s[i..]));
                }
                '?' => p = &p[1..],
                '[' => {
                    let c = s[0];
                    let mut q = &p[1..];
                    let negate = q.first() == Some(&'^');
                    if negate {
                        q = &q[1..];
                    }
                    let mut hit = false;
                    loop {
                        if q.len() >= 2 && q[0] == '\\' {
                            hit |= q[1] == c;
                            q = &q[2..];
                        } else if q.is_empty() {
                            break;
                        } else if q[0] == ']' {
                            q = &q[1..];
                            break;
                        } else if q.len() >= 3 && q[1] == '-' {
                            let (lo, hi) = if q[0] <= q[2] {
                                (q[0], q[2])
                            } else {
                                (q[2], q[0])
                            };
                            hit |= lo <= c && c <= hi;
                            q = &q[3..];
                        } else {
                            hit |= q[0] == c;
                            q = &q[1..];
                        }
                    }
                    if hit == negate {
                        return false;
                    }
                    p = q;
                }
                '\\' if p.len() >= 2 => {
                    if p[1] != s[0] {
                        return false;
                    }
                    p = &p[2..];
                }
                lit => {
                    if lit != s[0] {
                        return false;
                    }
                    p = &p[1..];
                }
            }
            s = &s[1..];
            if s.is_empty() {
                while p.first() == Some(&'*') {
                    p = &p[1..];
                }
            }
        }
        p.is_empty() && s.is_empty()
    }

    /// xorshift64*: tiny, deterministic, good enough to spread test cases.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            let n = u64::try_from(n).unwrap();
            usize::try_from(self.next() % n).unwrap()
        }

        fn string(&mut self, alphabet: &[char], max_len: usize) -> String {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    fn check_random(seed: u64, cases: usize, pattern_alphabet: &[char], text_alphabet: &[char]) {
        let mut rng = Rng(seed);
        let mut matched = 0;
        for _ in 0..cases {
            let pattern = rng.string(pattern_alphabet, 9);
            let text = rng.string(text_alphabet, 7);
            let glob = Glob::new(&pattern).unwrap();
            let expected = reference(&pattern, &text);
            let got = glob.is_match(&text);
            assert_eq!(got, expected, "pattern {pattern:?}, text {text:?}");
            assert_eq!(glob_match(&pattern, &text), expected);
            if got {
                matched += 1;
                assert!(
                    text.starts_with(glob.literal_prefix()),
                    "match {text:?} lacks prefix {:?} of {pattern:?}",
                    glob.literal_prefix()
                );
            }
            if glob.is_literal() {
                assert_eq!(got, text == glob.literal_prefix(), "{pattern:?}");
            }
        }
        // Make sure the generator exercises both outcomes.
        assert!(matched > cases / 50, "only {matched} of {cases} matched");
        assert!(matched < cases - cases / 50, "{matched} of {cases} matched");
    }

    #[test]
    fn randomized_against_reference() {
        const PATTERN: &[char] = &['a', 'b', '*', '?', '[', ']', '^', '-', '\\'];
        const TEXT: &[char] = &['a', 'b', 'c'];
        check_random(0x9E37_79B9_7F4A_7C15, 100_000, PATTERN, TEXT);
    }

    #[test]
    fn randomized_against_reference_with_specials_in_text() {
        // Texts that contain the pattern metacharacters themselves, plus a
        // multi-byte character, stress escapes and ranges.
        const PATTERN: &[char] = &['a', 'b', '*', '?', '[', ']', '^', '-', '\\', 'é'];
        const TEXT: &[char] = &['a', 'b', '*', '?', ']', '^', '-', '\\', 'é'];
        check_random(0xD1B5_4A32_D192_ED03, 100_000, PATTERN, TEXT);
    }

    #[test]
    fn randomized_wildcard_heavy() {
        // Mostly stars and single-character wildcards: exercises backtracking.
        const PATTERN: &[char] = &['a', 'b', '*', '*', '?', 'a'];
        const TEXT: &[char] = &['a', 'b'];
        check_random(0x2545_F491_4F6C_DD1D, 50_000, PATTERN, TEXT);
    }

    #[test]
    fn empty_text_differs_from_redis_7_only_for_multi_star_patterns() {
        // Documented choice: Redis 7's matcher alone matches only the empty
        // pattern against an empty key (`KEYS *` short-circuits the lone
        // star). This glob also lets any all-star pattern match.
        for pattern in ["", "*", "**", "****"] {
            assert!(Glob::new(pattern).unwrap().is_match(""), "{pattern:?}");
        }
        for pattern in ["?", "[^a]", "[^a]*", "*?", "a*", "\\*", "[^", "[]"] {
            assert!(!Glob::new(pattern).unwrap().is_match(""), "{pattern:?}");
        }
    }
}
