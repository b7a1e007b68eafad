/* Common passwords refused at registration (lower case; compared case-insensitively).
 * From public breach-frequency lists; short on purpose: the length rule already
 * rules out everything below 8 characters. */
static const char *const common_passwords[] = {
    "00000000", "11111111", "11223344", "12341234", "123454321", "12345678", "123456789",
    "1234567890", "1234qwer", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "1qazxsw2", "87654321",
    "88888888", "987654321", "99999999", "aaaaaaaa", "abc12345", "abcd1234", "abcdefgh",
    "admin123", "administrator", "asdf1234", "asdfasdf", "asdfghjkl", "azerty123", "barcelona",
    "baseball", "baseball1", "batman123", "changeme", "chelsea1", "computer", "dragon123",
    "facebook", "football", "football1", "football123", "fortnite", "hello123", "hello1234",
    "iloveyou", "iloveyou1", "iloveyou123", "internet", "jennifer", "jordan23", "letmein1",
    "letmein123", "linkedin", "liverpool", "master123", "michael1", "michelle", "minecraft",
    "mobilemail", "monitoring", "monkey123", "p@ssw0rd", "pass1234", "passw0rd", "password",
    "password!", "password1", "password12", "password123", "password1234", "princess",
    "princess1", "q1w2e3r4", "q1w2e3r4t5", "qwer1234", "qwerty123", "qwertyui", "qwertyuiop",
    "realmadrid", "secret123", "shadow123", "spiderman", "starwars", "starwars1", "sunshine",
    "sunshine1", "superman", "superman1", "trustno1", "trustno1!", "welcome1", "whatever",
    "zaq12wsx", "zxcvbnm1",
    NULL,
};
