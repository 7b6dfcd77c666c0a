//! RFC 3986 percent-encoding as ACS3 uses it, and the canonical URI and query string.
//!
//! Everything works on bytes, not `str`: a query value may percent-decode to bytes that are not
//! UTF-8, and mapping them lossily would let two different requests share one canonical form.

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
    out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The byte an escape `%XY` starting at `bytes[at]` stands for, if it is one.
fn escape_at(bytes: &[u8], at: usize) -> Option<u8> {
    match bytes.get(at..at + 3) {
        Some([b'%', hi, lo]) => Some((hex_value(*hi)? << 4) | hex_value(*lo)?),
        _ => None,
    }
}

/// Percent-encodes every byte except the RFC 3986 unreserved set (`A-Z a-z 0-9 - _ . ~`).
///
/// This is how ACS3 encodes query names and values: space becomes `%20` (never `+`), `*` becomes
/// `%2A`, `~` stays as it is, and non-ASCII text is encoded as its UTF-8 bytes.
pub fn percent_encode(input: impl AsRef<[u8]>) -> String {
    let input = input.as_ref();
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// Decodes `%XX` escapes; everything else, `+` included, is taken literally.
///
/// ACS3 clients encode a space as `%20`, so a `+` on the wire is a plus sign. A `%` that does not
/// start a valid escape is kept as a literal `%`, the way lenient URL parsers do, rather than
/// rejecting the request here: the signature check decides.
pub fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(b) = escape_at(bytes, i) {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Encodes a decoded path for the wire; the result is also its canonical URI.
///
/// Use this on the client when the path is known as plain text (`/files/a b` → `/files/a%20b`).
/// Slashes separate segments and stay as they are.
pub fn encode_path(decoded: &str) -> String {
    let mut out = String::with_capacity(decoded.len());
    for &b in decoded.as_bytes() {
        if is_unreserved(b) || b == b'/' {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The CanonicalURI of a path as it appears on the wire (already percent-encoded or not).
///
/// Escapes of unreserved characters are decoded, other escapes are kept with uppercase hex, and
/// literal bytes outside the unreserved set are encoded, so `/a%7eb%2a`, `/a~b*` and `/a~b%2A` all
/// canonicalise to `/a~b%2A` — the form a client gets by encoding the decoded path. An encoded
/// slash (`%2F`) stays encoded, because it is part of a segment and a client encoding that segment
/// signs it as `%2F`. An empty path is `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    let bytes = raw_path.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let Some(b) = escape_at(bytes, i) {
            if is_unreserved(b) {
                out.push(char::from(b));
            } else {
                push_escaped(&mut out, b);
            }
            i += 3;
            continue;
        }
        let b = bytes[i];
        if is_unreserved(b) || b == b'/' {
            out.push(char::from(b));
        } else {
            push_escaped(&mut out, b);
        }
        i += 1;
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Query parameters as decoded `(name, value)` byte strings, in the order they were given.
///
/// A parameter without a value (`?flag`) has an empty value, exactly like `?flag=`; ACS3 signs both
/// as `flag=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl QueryParams {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a raw query string as it appears on the wire, without the leading `?`.
    ///
    /// Pairs are split on `&`, names from values on the first `=`, and only `%XX` escapes are
    /// decoded (see [`percent_decode`]). Empty pairs (`a=1&&b=2`) are skipped.
    pub fn parse(raw: &str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// Appends a parameter.
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.pairs.push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Appends a parameter, builder style.
    pub fn with(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.push(name, value);
        self
    }

    /// The parameters in the order they were given.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// The value of the first parameter with this name.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v)
    }

    /// How many parameters there are, repeats included.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The query string to put on the wire (without `?`), in the order given.
    ///
    /// Encoded like the canonical form, so the server's [`QueryParams::parse`] gets back exactly
    /// these bytes.
    pub fn to_query_string(&self) -> String {
        join_pairs(self.pairs.iter().map(|(n, v)| (percent_encode(n), percent_encode(v))))
    }

    /// The CanonicalQueryString: pairs sorted by name, then encoded and joined with `&`.
    ///
    /// Names are sorted before encoding, by their decoded bytes, because that is what Alibaba's
    /// signers do (their documentation sorts then encodes, and the SDKs sort the raw keys of a
    /// map). Sorting the encoded names instead would order `|` or `é` (`%7C`, `%C3%A9`) before
    /// letters and break such clients. The sort is stable, so repeated names keep the order in
    /// which they were given; the server sees them in wire order, which is that same order.
    pub fn canonical(&self) -> String {
        let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = self.pairs.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        join_pairs(sorted.into_iter().map(|(n, v)| (percent_encode(n), percent_encode(v))))
    }
}

fn join_pairs(pairs: impl Iterator<Item = (String, String)>) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&name);
        out.push('=');
        out.push_str(&value);
    }
    out
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for QueryParams {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut params = Self::new();
        for (name, value) in iter {
            params.push(name, value);
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_alibaba() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("*"), "%2A");
        assert_eq!(percent_encode("~"), "~");
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("+/=&?%"), "%2B%2F%3D%26%3F%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("身份"), "%E8%BA%AB%E4%BB%BD");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn decodes_only_percent_escapes() {
        assert_eq!(percent_decode("a+b"), b"a+b");
        assert_eq!(percent_decode("a%20b"), b"a b");
        assert_eq!(percent_decode("%c3%A9"), "é".as_bytes());
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%FF"), [0xff]);
    }

    #[test]
    fn canonical_query_encoding() {
        let q = QueryParams::new()
            .with("b", "x y")
            .with("a", "*")
            .with("c", "~")
            .with("d", "身份证")
            .with("e", "")
            .with("f", "a+b");
        assert_eq!(q.canonical(), "a=%2A&b=x%20y&c=~&d=%E8%BA%AB%E4%BB%BD%E8%AF%81&e=&f=a%2Bb");
    }

    #[test]
    fn repeated_names_keep_their_order() {
        let q = QueryParams::new().with("k", "2").with("a", "z").with("k", "1").with("k", "3");
        assert_eq!(q.canonical(), "a=z&k=2&k=1&k=3");
    }

    #[test]
    fn sorts_by_decoded_name() {
        let q = QueryParams::new().with("é", "1").with("|", "2").with("a", "3").with("Z", "4").with("*", "5");
        assert_eq!(q.canonical(), "%2A=5&Z=4&a=3&%7C=2&%C3%A9=1");
    }

    #[test]
    fn parses_raw_query() {
        let q = QueryParams::parse("RegionId=cn-shanghai&flag&empty=&sp=a%20b&plus=a+b&&eq=a=b&%E8%BA%AB=1");
        let pairs: Vec<(&[u8], &[u8])> = q.iter().collect();
        assert_eq!(
            pairs,
            vec![
                (&b"RegionId"[..], &b"cn-shanghai"[..]),
                (b"flag", b""),
                (b"empty", b""),
                (b"sp", b"a b"),
                (b"plus", b"a+b"),
                (b"eq", b"a=b"),
                ("身".as_bytes(), b"1"),
            ]
        );
        assert_eq!(q.canonical(), "RegionId=cn-shanghai&empty=&eq=a%3Db&flag=&plus=a%2Bb&sp=a%20b&%E8%BA%AB=1");
        assert_eq!(q.get("sp"), Some(&b"a b"[..]));
        assert!(QueryParams::parse("").is_empty());
    }

    #[test]
    fn wire_form_parses_back_to_the_same_params() {
        let q = QueryParams::new().with("a b", "c&d=e").with("x", "").with("名", "值+*~").with([0xffu8], [0x00u8]);
        let wire = q.to_query_string();
        assert_eq!(QueryParams::parse(&wire), q);
        assert_eq!(QueryParams::parse(&wire).canonical(), q.canonical());
    }

    #[test]
    fn differently_spelled_queries_share_a_canonical_form() {
        assert_eq!(QueryParams::parse("a=%7e%2a").canonical(), QueryParams::parse("a=~*").canonical());
        assert_ne!(QueryParams::parse("a=%FF").canonical(), QueryParams::parse("a=%EF%BF%BD").canonical());
    }

    #[test]
    fn canonical_uri_normalises_the_wire_path() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/api/v1/clusters"), "/api/v1/clusters");
        assert_eq!(canonical_uri("/a b/c*"), "/a%20b/c%2A");
        assert_eq!(canonical_uri("/a%20b/c%2a"), "/a%20b/c%2A");
        assert_eq!(canonical_uri("/a%7Eb/%41"), "/a~b/A");
        assert_eq!(canonical_uri("/a%2Fb"), "/a%2Fb");
        assert_eq!(canonical_uri("/100%"), "/100%25");
        assert_eq!(canonical_uri("/é"), "/%C3%A9");
        assert_eq!(canonical_uri("/a+b"), "/a%2Bb");
    }

    #[test]
    fn encoded_path_is_its_own_canonical_uri() {
        for decoded in ["", "/", "/files/a b", "/x/100%/y", "/名/~*+", "/a%2Fb"] {
            let wire = encode_path(decoded);
            assert_eq!(canonical_uri(&wire), wire, "{decoded}");
            assert_eq!(percent_decode(&wire), if decoded.is_empty() { "/" } else { decoded }.as_bytes());
        }
    }
}
