//! Hand-written matchers for secrets and for the things that are not
//! secrets (references, placeholders, identifiers). Pure functions over
//! strings; no regex engine, to keep the component small.

/// Bytes of an AWS access key id after the 4-byte prefix.
const ACCESS_KEY_ID_TAIL: usize = 16;
/// Length of an AWS access key id (`AKIA`/`ASIA` + 16).
const ACCESS_KEY_ID_LEN: usize = 4 + ACCESS_KEY_ID_TAIL;
/// Length of an AWS secret access key.
const SECRET_KEY_LEN: usize = 40;

/// A regex `\w` character: ASCII letter, digit or underscore.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The alphabet of AWS secret access keys: base64 (`A-Z a-z 0-9 / + =`).
fn is_secret_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'='
}

/// Finds AWS access key ids: `AKIA` or `ASIA` followed by 16 characters of
/// `[A-Z0-9]`, with a word boundary on both sides. Returns the ids found, in
/// order.
pub fn access_key_ids(s: &str) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    if bytes.len() < ACCESS_KEY_ID_LEN {
        return found;
    }
    let mut start = 0;
    // Candidates start with `A` followed by `KIA`/`SIA`; jump between `A`s.
    while let Some(offset) = bytes
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'A'))
    {
        start += offset;
        let Some(window) = bytes.get(start..start + ACCESS_KEY_ID_LEN) else {
            break;
        };
        let prefix_ok = window.starts_with(b"AKIA") || window.starts_with(b"ASIA");
        let before_ok = start == 0 || bytes.get(start - 1).is_none_or(|&b| !is_word_byte(b));
        let after_ok = bytes
            .get(start + ACCESS_KEY_ID_LEN)
            .is_none_or(|&b| !is_word_byte(b));
        let tail_ok = window
            .iter()
            .skip(4)
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if prefix_ok && before_ok && after_ok && tail_ok {
            if let Some(id) = s.get(start..start + ACCESS_KEY_ID_LEN) {
                found.push(id);
            }
            start += ACCESS_KEY_ID_LEN;
        } else {
            start += 1;
        }
    }
    found
}

/// Whether `s` contains an AWS access key id.
pub fn has_access_key_id(s: &str) -> bool {
    !access_key_ids(s).is_empty()
}

/// Whether `s` is shaped like an AWS secret access key: exactly 40
/// characters of `[A-Za-z0-9/+=]` mixing upper- and lowercase letters (a
/// random base64 string of that length practically always does; hex digests
/// and all-caps identifiers never do).
pub fn is_secret_key_shaped(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == SECRET_KEY_LEN
        && bytes.iter().all(|&b| is_secret_key_byte(b))
        && bytes.iter().any(u8::is_ascii_uppercase)
        && bytes.iter().any(u8::is_ascii_lowercase)
}

/// Finds an AWS secret access key assigned inside free text, as in
/// `AWS_SECRET_ACCESS_KEY=wJalr...` or `aws_secret_access_key: "wJalr..."`
/// (shell scripts, `UserData`, INI-style credentials files). Returns the key.
pub fn embedded_secret_key(s: &str) -> Option<&str> {
    const NEEDLES: [&str; 4] = [
        "secret_access_key",
        "secretaccesskey",
        "secret-access-key",
        "aws_secret",
    ];
    let bytes = s.as_bytes();
    // Shortest possible match: `aws_secret=` and 40 characters.
    if bytes.len() < 51
        || !bytes.iter().any(|&b| b == b'=' || b == b':')
        || find_ignore_ascii_case(bytes, b"secret", 0).is_none()
    {
        return None;
    }
    for needle in NEEDLES {
        let mut from = 0;
        while let Some(found) = find_ignore_ascii_case(bytes, needle.as_bytes(), from) {
            let mut at = found + needle.len();
            from = at;
            // The rest of the variable name (`_key`, `Id`...).
            while bytes.get(at).is_some_and(|&b| is_word_byte(b) || b == b'-') {
                at += 1;
            }
            // Separators: quotes, spaces, `=`, `:`; at least one `=` or `:`.
            let mut assigned = false;
            while let Some(&b) = bytes.get(at) {
                match b {
                    b'=' | b':' => assigned = true,
                    b'"' | b'\'' | b' ' | b'\t' => {}
                    _ => break,
                }
                at += 1;
            }
            if !assigned {
                continue;
            }
            let end = at + SECRET_KEY_LEN;
            let boundary = bytes.get(end).is_none_or(|&b| !is_secret_key_byte(b));
            if let Some(candidate) = s.get(at..end)
                && boundary
                && is_secret_key_shaped(candidate)
            {
                return Some(candidate);
            }
        }
    }
    None
}

/// The first index at or after `from` where `needle` (lowercase ASCII)
/// occurs in `haystack`, ignoring ASCII case.
fn find_ignore_ascii_case(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while let Some(offset) = haystack
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| b.to_ascii_lowercase() == first))
    {
        at += offset;
        let candidate = haystack.get(at..at + needle.len())?;
        if candidate.eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// The password of HTTP Basic credentials written in `s` (`Authorization:
/// Basic dXNlcjpwYXNz`): the token after `Basic ` decodes (base64) to
/// printable `user:password` text with a password of 3 characters or more.
pub fn basic_password(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(at) = find_ignore_ascii_case(bytes, b"basic ", from) {
        from = at + 6;
        // A word of its own: `Basic`, not `isBasic `.
        if at > 0 && bytes.get(at - 1).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let token: String = s
            .get(from..)
            .unwrap_or_default()
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
            .collect();
        let Some(text) = base64_text(&token) else {
            continue;
        };
        // `user:password`, neither with spaces (text that happens to be
        // base64, `Note: see docs`, has them).
        if let Some((user, password)) = text.split_once(':')
            && !user.is_empty()
            && password.chars().count() >= 3
            && !text.contains(char::is_whitespace)
        {
            return Some(password.to_owned());
        }
    }
    None
}

/// Standard base64 (with its padding) decoded to printable ASCII text, or
/// `None`. Tokens of 8 characters or more only: shorter ones are words.
fn base64_text(token: &str) -> Option<String> {
    if token.len() < 8 || token.len() % 4 != 0 || token.len() > 1024 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let body = token.trim_end_matches('=');
    if token.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut n = 0_u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i as u32);
        }
        let take = chunk.len().saturating_sub(1);
        for i in 0..take {
            out.push(((n >> (16 - 8 * i as u32)) & 0xff) as u8);
        }
    }
    let text = String::from_utf8(out).ok()?;
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b))
        .then_some(text)
}

/// Finds a PEM private key block header (`-----BEGIN RSA PRIVATE KEY-----`,
/// `EC`, `OPENSSH`, `DSA`, `ENCRYPTED`, PKCS#8's plain `PRIVATE KEY`, and
/// `PGP PRIVATE KEY BLOCK`). Returns the label, e.g. `RSA PRIVATE KEY`.
pub fn private_key_label(s: &str) -> Option<&str> {
    const BEGIN: &str = "-----BEGIN ";
    // The shortest match: `-----BEGIN PRIVATE KEY-----`.
    if s.len() < BEGIN.len() + "PRIVATE KEY-----".len() {
        return None;
    }
    let mut from = 0;
    while let Some(found) = find_bytes(s.as_bytes(), BEGIN.as_bytes(), from) {
        let label_start = found + BEGIN.len();
        from = label_start;
        let Some(rest) = s.get(label_start..) else {
            break;
        };
        let Some(label_len) = find_bytes(rest.as_bytes(), b"-----", 0) else {
            break;
        };
        let Some(label) = rest.get(..label_len) else {
            break;
        };
        let label_ok = label.len() <= 40
            && label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
        if label_ok && (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK")) {
            return Some(label);
        }
    }
    None
}

/// Whether the whole value is a reference to a secret kept elsewhere, which
/// is exactly what should be in a template:
/// `{{resolve:secretsmanager:...}}`, `{{resolve:ssm-secure:...}}`,
/// `{{resolve:ssm:...}}`, any `${...}` variable (`${ssm:...}`,
/// `${secretsmanager:...}`, `${aws:...}`, `${self:...}`, `${var.x}`, ...),
/// any other `{{...}}` template variable, and Secrets Manager or SSM ARNs.
pub fn is_reference(s: &str) -> bool {
    let t = trim(s);
    match t.as_bytes().first() {
        Some(b'{') => t.starts_with("{{") && t.ends_with("}}"),
        Some(b'$') => {
            (t.starts_with("${") && t.ends_with('}'))
                // API Gateway selection expressions and variables, and
                // JSONPath (Step Functions `$.input`, `$$.Task.Token`).
                || ["$request.", "$context.", "$stageVariables.", "$.", "$$.", "$["]
                    .iter()
                    .any(|p| t.starts_with(p))
        }
        Some(b'a') => t.starts_with("arn:") && is_secret_store_arn(t),
        _ => false,
    }
}

/// `str::trim`, with a fast path for the usual string that has no
/// surrounding whitespace.
pub fn trim(s: &str) -> &str {
    let bytes = s.as_bytes();
    let clean = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    if clean(bytes.first()) && clean(bytes.last()) {
        s
    } else {
        s.trim()
    }
}

/// The first index at or after `from` where `needle` occurs in `haystack`
/// (a plain search; needles here are short and rare).
pub fn find_bytes(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while let Some(offset) = haystack
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == first))
    {
        at += offset;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// Whether `s` is the ARN of a Secrets Manager secret or an SSM parameter,
/// in any partition (`aws`, `aws-cn`, `aws-us-gov`, ...).
fn is_secret_store_arn(s: &str) -> bool {
    let mut parts = s.splitn(4, ':');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some(partition), Some("secretsmanager" | "ssm")) if partition.starts_with("aws")
    )
}

/// Whether `s` has a reference or template variable somewhere inside it
/// (`Fn::Sub` strings, `postgres://u:{{resolve:...}}@host`, ...), so its
/// literal text is a template, not a value.
pub fn contains_reference(s: &str) -> bool {
    if is_mapping_template(s) {
        return true;
    }
    if !s.as_bytes().contains(&b'{') {
        return false;
    }
    if find_bytes(s.as_bytes(), b"{{resolve:", 0).is_some() {
        return true;
    }
    let bytes = s.as_bytes();
    let closes_after = |open: &[u8], close: &[u8]| {
        find_bytes(bytes, open, 0)
            .is_some_and(|at| find_bytes(bytes, close, at + open.len()).is_some())
    };
    closes_after(b"${", b"}") || closes_after(b"{{", b"}}")
}

/// The password of a URL with credentials (`postgres://app:S3cret@db/x`,
/// `redis://:pw@cache:6379`), if it has one.
pub fn url_password(s: &str) -> Option<&str> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (_user, password) = userinfo.split_once(':')?;
    (!password.is_empty() && !host.is_empty()).then_some(password)
}

/// The password of a `key=value;` connection string (ADO.NET, ODBC, JDBC
/// properties: `Server=db;User Id=app;Password=S3cret;`), when one of its
/// keys is `Password`, `Pwd` or `Passwd` (any case).
pub fn connection_string_password(s: &str) -> Option<&str> {
    if !s.contains(';') || !s.contains('=') {
        return None;
    }
    s.split(';').find_map(|part| {
        let (key, value) = part.split_once('=')?;
        let key = key.trim();
        let named = ["password", "pwd", "passwd"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k));
        let value = value.trim().trim_matches(['"', '\'']);
        (named && !value.is_empty()).then_some(value)
    })
}

/// Whether `s` is an API Gateway mapping template (Velocity): its values
/// come from the request (`$input.json('$')`, `$context.authorizer.x`,
/// `$util.escapeJavaScript(...)`, `#set(...)`), so the literal text is a
/// template, not a value.
pub fn is_mapping_template(s: &str) -> bool {
    const MARKERS: [&[u8]; 9] = [
        b"$input.",
        b"$context.",
        b"$util.",
        b"$request.",
        b"$stageVariables.",
        b"$method.",
        b"$inputRoot",
        b"#set(",
        b"#foreach(",
    ];
    let bytes = s.as_bytes();
    (bytes.contains(&b'$') || bytes.contains(&b'#'))
        && MARKERS.iter().any(|m| find_bytes(bytes, m, 0).is_some())
}

/// Whether `s` is a file path (`/var/task/key.json`, `~/.gcloud/key.json`,
/// `./certs/client.pem`, `file://secrets.json`, `C:\keys\k.pem`): where a
/// credential is kept, not the credential.
pub fn is_file_path(s: &str) -> bool {
    // A relative or home path says it is one: its segments may be any
    // file names (`./PollLifx/bin/Release/PollLifx.zip`), globs included.
    let relative = ["file://", "~/", "./", "../"]
        .iter()
        .find_map(|p| s.strip_prefix(p));
    if let Some(rest) = relative {
        return !rest.is_empty()
            && (rest.contains('/') || rest.contains('.'))
            && rest.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'@' | b'*' | b'+')
            });
    }
    // An absolute path must read like one (base64 may start with `/`).
    if let Some(rest) = s.strip_prefix('/') {
        return !rest.is_empty() && (rest.contains('/') || rest.contains('.')) && is_path(s);
    }
    s.as_bytes().get(1) == Some(&b':') && s.as_bytes().get(2) == Some(&b'\\')
}

/// A package glob (`create-policy/node_modules/**`, `src/**/*.js`).
fn is_glob(s: &str) -> bool {
    s.contains('/')
        && s.contains('*')
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'*' | b'!')
        })
}

/// An IAM action (`ec2:AuthorizeSecurityGroupIngress`, `s3:Get*`).
fn is_iam_action(s: &str) -> bool {
    let Some((service, action)) = s.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && action
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'*')
        && action.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*')
}

/// Command-line options (`-agentlib:jdwp=transport=dt_socket,server=y`,
/// `--max-old-space-size=4096`).
fn is_command_options(s: &str) -> bool {
    // Not a URL-safe base64 value that happens to start with `-` and end
    // with `=` padding: options are `--name=...` or a list (`a=b,c=d`).
    s.contains('=') && (s.starts_with("--") || (s.starts_with('-') && s.contains(',')))
}

/// A unit or enum word that token settings hold (Cognito's
/// `TokenValidityUnits: {AccessToken: hours}`).
pub fn is_unit_word(s: &str) -> bool {
    ["seconds", "minutes", "hours", "days"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// Whether `s` is an obvious placeholder rather than a value: `<password>`,
/// `[REDACTED]`, `REPLACE_ME`, `replace-with-real-key`, `your-api-key-here`,
/// `TODO`, `xxxxxxxx`, `********`, `none`, `null`, and the booleans
/// `true`/`false`. (`changeme` is not a placeholder: it is a real, weak
/// password.)
pub fn is_placeholder(s: &str) -> bool {
    let t = s.trim();
    let bytes = t.as_bytes();
    let wrapped =
        |open: u8, close: u8| bytes.first() == Some(&open) && bytes.last() == Some(&close);
    if wrapped(b'<', b'>') || wrapped(b'[', b']') {
        return true;
    }
    if t.chars()
        .all(|c| matches!(c, 'x' | 'X' | '*' | '•' | '#' | '.' | '-' | '_' | ' '))
    {
        return true;
    }
    if t.len() > 64 {
        return false;
    }
    // The lowercase ASCII letters and digits of `t`, without allocating.
    let mut buffer = [0_u8; 64];
    let mut len = 0;
    for b in t.bytes().filter(u8::is_ascii_alphanumeric) {
        if let Some(slot) = buffer.get_mut(len) {
            *slot = b.to_ascii_lowercase();
            len += 1;
        }
    }
    let normalized = buffer.get(..len).unwrap_or_default();
    const EXACT: [&str; 20] = [
        "test",
        "dummy",
        "example",
        "sample",
        "placeholder",
        "todo",
        "tbd",
        "fixme",
        "redacted",
        "notset",
        "unset",
        "none",
        "null",
        "nil",
        "undefined",
        "empty",
        "true",
        "false",
        "setme",
        "fillmein",
    ];
    EXACT.iter().any(|e| e.as_bytes() == normalized)
        || normalized.starts_with(b"replace")
        || (normalized.starts_with(b"your") && normalized.ends_with(b"here"))
        || (normalized.starts_with(b"insert") && normalized.ends_with(b"here"))
}

/// Assignments of quoted literals in code or config text, one per line:
/// `DB_PASSWORD = "..."`, `const apiKey = '...'`, `"token": "..."`,
/// `password: "..."`. Yields the assigned name and the literal.
pub fn quoted_assignments(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.lines().filter_map(|line| {
        let at = line.find(['=', ':'])?;
        let (left, right) = (line.get(..at)?, line.get(at + 1..)?);
        // `==`, `=>`, `:=` and `::` are not assignments of a literal.
        let right = right.trim_start();
        if line.get(at + 1..at + 2).is_some_and(|c| matches!(c, "=" | ">" | ":")) {
            return None;
        }
        let name = left
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .next()?;
        let quote = right.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let body = right.get(1..)?;
        let value = body.get(..body.find(quote)?)?;
        (!name.is_empty() && !value.is_empty()).then_some((name, value))
    })
}

/// Whether `s` is an ARN (of any service).
pub fn is_arn(s: &str) -> bool {
    s.starts_with("arn:")
}

/// Shannon entropy of `s` in bits per character (0.0 for an empty string).
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0_u32; 256];
    // Which bytes occur, so the sum runs over those only, in byte order.
    let mut seen = [0_u64; 4];
    let mut total = 0_u32;
    for b in s.bytes() {
        if let Some(count) = counts.get_mut(usize::from(b)) {
            *count += 1;
        }
        if let Some(bits) = seen.get_mut(usize::from(b >> 6)) {
            *bits |= 1 << (b & 63);
        }
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let n = f64::from(total);
    let mut entropy = 0.0;
    for (word, &bits) in seen.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let b = word * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(&c) = counts.get(b) {
                let p = f64::from(c) / n;
                entropy += -p * p.log2();
            }
        }
    }
    entropy
}

/// Whether `s` consists of hex digits only.
pub fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a string that passes the entropy test is still not reported: it has
/// a recognisable, non-secret shape. Returns `true` for URLs, file paths,
/// UUIDs, e-mail addresses, dotted identifiers and file names, container
/// image digests, CDK logical ids (`MyFunctionRole3C357FF2`) and CDK's
/// compressed `Analytics` metadata.
pub fn is_benign_shape(s: &str) -> bool {
    // Most shapes need a `:`, `/`, `@` or `.`; look for those once.
    let (mut colon, mut slash, mut at, mut dot) = (false, false, false, false);
    for b in s.bytes() {
        match b {
            b':' => colon = true,
            b'/' => slash = true,
            b'@' => at = true,
            b'.' => dot = true,
            _ => {}
        }
    }
    let bytes = s.as_bytes();
    let contains = |needle: &[u8]| find_bytes(bytes, needle, 0).is_some();
    (colon
        && (contains(b"://")
            || s.starts_with("mailto:")
            || s.starts_with("v2:deflate64:")
            || contains(b"sha256:")
            || contains(b"sha512:")))
        || ((slash || colon) && is_path(s))
        || (slash && (is_file_path(s) || is_glob(s)))
        || (colon && is_iam_action(s))
        || is_command_options(s)
        || is_uuid(s)
        || (at && is_email(s))
        || (dot && is_dotted_identifier(s))
        || is_cdk_logical_id(s)
        || is_aws_resource_id(s)
        || is_kebab_name(s)
}

/// An AWS resource id: a lowercase prefix, a dash and 8 or 17 hex digits
/// (`subnet-0a1b2c3d4e5f60718`, `sg-1234abcd`, `vpc-0c2f4e6a8b1d3f5a7`).
fn is_aws_resource_id(s: &str) -> bool {
    let Some((prefix, id)) = s.rsplit_once('-') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && (id.len() == 8 || id.len() == 17)
        && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A lowercase name made of words and numbers joined by dashes
/// (`orders-uploads-123456789012`, `prod-eu-west-1`): a bucket or stack
/// name, not a secret, because no part of it mixes letters and digits.
fn is_kebab_name(s: &str) -> bool {
    s.contains('-')
        && s.split('-').all(|part| {
            !part.is_empty()
                && (part.bytes().all(|b| b.is_ascii_lowercase())
                    || part.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// A file system path (`/etc/x`, `./a/b`, `C:\x`) or a slash-separated name
/// whose segments read like names (`prod/my-app/db-credentials`,
/// `src/handlers/index.handler`); base64 with slashes has mixed-case,
/// punctuation-free segments and is not a path.
fn is_path(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.get(1) == Some(&b':') && bytes.get(2) == Some(&b'\\') {
        return true;
    }
    if !s.contains('/') {
        return false;
    }
    s.split('/').filter(|seg| !seg.is_empty()).all(|seg| {
        seg.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b':'))
            && (!seg.bytes().any(|b| b.is_ascii_uppercase())
                || seg.bytes().any(|b| matches!(b, b'.' | b'_' | b'-')))
    })
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `local@domain.tld`.
fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'@')
                })
        }
        None => false,
    }
}

/// Dotted names (`com.example.Handler`, `method.request.header.Authorization`,
/// `bucket.s3.us-east-1.amazonaws.com`) and file names with an extension
/// (`<hash>.zip`). JWTs and other dotted tokens (`eyJ...`, long random
/// segments) are not identifiers.
fn is_dotted_identifier(s: &str) -> bool {
    if !s.contains('.') || s.contains('/') || find_bytes(s.as_bytes(), b"eyJ", 0).is_some() {
        return false;
    }
    let mut segments = s.split('.');
    let well_formed = segments.clone().all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
    });
    if !well_formed {
        return false;
    }
    let short_segments = segments.clone().all(|seg| seg.len() <= 32);
    let has_extension = segments.next_back().is_some_and(|ext| {
        (1..=5).contains(&ext.len())
            && ext
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    short_segments || has_extension
}

/// CDK logical ids: an alphanumeric name with at least one lowercase letter,
/// starting with an uppercase letter, ending in an 8-digit uppercase hex hash
/// (`MyFunctionServiceRole3C357FF2`).
fn is_cdk_logical_id(s: &str) -> bool {
    let Some(split) = s.len().checked_sub(8) else {
        return false;
    };
    let (Some(name), Some(hash)) = (s.get(..split), s.get(split..)) else {
        return false;
    };
    !name.is_empty()
        && name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// The first `min(4, len / 2)` characters of `s` followed by `…`, so a
/// message can hint at a value without echoing it.
pub fn preview(s: &str) -> String {
    let shown = (s.chars().count() / 2).min(4);
    let mut out: String = s.chars().take(shown).collect();
    out.push('…');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_give_their_password() {
        assert_eq!(
            connection_string_password("Server=db.internal;Database=orders;User Id=app;Password=S3cr3tP4ss!;"),
            Some("S3cr3tP4ss!")
        );
        assert_eq!(connection_string_password("Driver={x};PWD='hunter22'"), Some("hunter22"));
        assert_eq!(connection_string_password("Server=db;Integrated Security=true;"), None);
        assert_eq!(connection_string_password("a=b"), None);
    }

    #[test]
    fn basic_credentials_are_decoded_and_prose_is_not() {
        // admin:hunter22
        assert_eq!(
            basic_password("Authorization: Basic YWRtaW46aHVudGVyMjI=").as_deref(),
            Some("hunter22")
        );
        assert_eq!(basic_password("'basic YWRtaW46aHVudGVyMjI='").as_deref(), Some("hunter22"));
        assert_eq!(basic_password("Basic authentication is required"), None);
        assert_eq!(basic_password("isBasic YWRtaW46aHVudGVyMjI="), None);
        // No colon, or a short password.
        assert_eq!(basic_password("Basic aHVudGVyMjI="), None);
        assert_eq!(basic_password("Basic YTpiYw=="), None);
        // "Note: see docs": base64 of prose, not credentials.
        assert_eq!(basic_password("Basic Tm90ZTogc2VlIGRvY3M="), None);
    }

    #[test]
    fn access_key_ids_need_boundaries() {
        assert_eq!(
            access_key_ids("key=AKIAIOSFODNN7EXAMPLE;"),
            ["AKIAIOSFODNN7EXAMPLE"]
        );
        assert_eq!(
            access_key_ids("ASIAY34FZKBOKMUTVV7A"),
            ["ASIAY34FZKBOKMUTVV7A"]
        );
        assert!(access_key_ids("XAKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(access_key_ids("AKIAIOSFODNN7EXAMPLEX").is_empty());
        assert!(access_key_ids("AKIAiosfodnn7example").is_empty());
        assert!(access_key_ids("AKIAIOSFODNN7EXAMPL").is_empty());
        assert!(access_key_ids("AIDAIOSFODNN7EXAMPLE").is_empty());
        assert_eq!(
            access_key_ids("AKIAIOSFODNN7EXAMPLE AKIAI44QH8DHBEXAMPLE").len(),
            2
        );
        assert!(access_key_ids("").is_empty());
        assert!(access_key_ids("ÄKIAIOSFODNN7EXAMPLE€").is_empty());
        assert_eq!(
            access_key_ids("é AKIAIOSFODNN7EXAMPLE é"),
            ["AKIAIOSFODNN7EXAMPLE"]
        );
    }

    #[test]
    fn secret_key_shape() {
        assert!(is_secret_key_shaped(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        // hex digest: no uppercase
        assert!(!is_secret_key_shaped(
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        ));
        assert!(!is_secret_key_shaped(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE"
        ));
    }

    #[test]
    fn embedded_secret_keys() {
        let script =
            "#!/bin/sh\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
        assert_eq!(
            embedded_secret_key(script),
            Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        );
        let ini = "[default]\naws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"";
        assert!(embedded_secret_key(ini).is_some());
        assert!(embedded_secret_key("aws_secret_access_key = ${SECRET}").is_none());
        assert!(embedded_secret_key("the aws_secret is elsewhere").is_none());
        assert!(
            embedded_secret_key("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX")
                .is_none()
        );
    }

    #[test]
    fn private_keys() {
        for label in [
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "DSA PRIVATE KEY",
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        ] {
            let pem = format!("-----BEGIN {label}-----\nMIIEow...\n-----END {label}-----\n");
            assert_eq!(private_key_label(&pem), Some(label));
        }
        assert_eq!(
            private_key_label("-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----"),
            None
        );
        assert_eq!(
            private_key_label("-----BEGIN CERTIFICATE-----x-----BEGIN RSA PRIVATE KEY-----\n"),
            Some("RSA PRIVATE KEY")
        );
        assert_eq!(private_key_label("-----BEGIN RSA PRIVATE KEY"), None);
        assert_eq!(private_key_label("-----BEGIN "), None);
    }

    #[test]
    fn references() {
        for r in [
            "{{resolve:secretsmanager:prod/db:SecretString:password}}",
            "{{resolve:ssm-secure:/prod/db/password:1}}",
            "{{resolve:ssm:/prod/db/user}}",
            "${ssm:/prod/db/password}",
            "${secretsmanager:prod/db}",
            "${aws:username}",
            "${self:custom.password}",
            "${var.db_password}",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
            "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/db",
            " {{ .Values.password }} ",
        ] {
            assert!(is_reference(r), "{r}");
        }
        for r in [
            "hunter2",
            "arn:aws:iam::123456789012:role/x",
            "${not closed",
            "{{",
        ] {
            assert!(!is_reference(r), "{r}");
        }
        assert!(contains_reference(
            "postgres://admin:{{resolve:secretsmanager:db}}@host/db"
        ));
        assert!(contains_reference(
            "https://${Api}.execute-api.${AWS::Region}"
        ));
        assert!(!contains_reference("p${ss"));
    }

    #[test]
    fn placeholders() {
        for p in [
            "<password>",
            "[REDACTED]",
            "REPLACE_ME",
            "replace-with-your-key",
            "YOUR_API_KEY_HERE",
            "xxxxxxxx",
            "XXXX-XXXX",
            "********",
            "TODO",
            "none",
            "true",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for p in ["changeme", "hunter2", "password123", "xoxb-123"] {
            assert!(!is_placeholder(p), "{p}");
        }
    }

    #[test]
    fn entropy() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("ab") - 1.0).abs() < 1e-9);
        assert!(shannon_entropy("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") > 4.5);
    }

    #[test]
    fn benign_shapes() {
        for s in [
            "https://example.com/a?b=c",
            "/usr/local/lib/python3.12/site-packages",
            "prod/my-app/db-credentials",
            "src/handlers/index.handler",
            "C:\\Users\\me",
            "123e4567-e89b-12d3-a456-426614174000",
            "someone.very.long@example.com",
            "method.request.header.Authorization",
            "my-bucket-1234.s3.us-east-1.amazonaws.com",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.zip",
            "MyFunctionServiceRole3C357FF2",
            "v2:deflate64:H4sIAAAAAAAA/zPSMzTUM1BMLC7WTc7P",
            "repo@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        ] {
            assert!(is_benign_shape(s), "{s}");
        }
        for s in [
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "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",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ] {
            assert!(!is_benign_shape(s), "{s}");
        }
    }

    #[test]
    fn previews_never_echo_the_secret() {
        assert_eq!(preview("hunter2"), "hun…");
        assert_eq!(preview("wJalrXUtnFEMI"), "wJal…");
        assert_eq!(preview("ab"), "a…");
        assert_eq!(preview("a"), "…");
        assert_eq!(preview("ééééééééé"), "éééé…");
    }
}
