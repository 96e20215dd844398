package dev.underpass.controlplane.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Base64;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SecretsTest {

    @Test
    void tokensHaveThePrefixAnd256BitsOfBase64Url() {
        String token = Secrets.agentToken();
        assertThat(token).startsWith(Secrets.AGENT_TOKEN_PREFIX).startsWith("upa_");
        String body = token.substring(Secrets.AGENT_TOKEN_PREFIX.length());
        assertThat(body).hasSize(43).matches("[A-Za-z0-9_-]{43}");
        assertThat(Base64.getUrlDecoder().decode(body)).hasSize(32);
    }

    @Test
    void apiKeysHaveTheirOwnPrefixAndAShortShownPart() {
        String key = Secrets.apiKey();
        assertThat(key).startsWith("upk_").hasSize(4 + 43);
        assertThat(Secrets.shownPrefix(key)).hasSize(12).isEqualTo(key.substring(0, 12));
        assertThat(Secrets.id("ep-", 16)).matches("ep-[0-9a-f]{16}");
    }

    @Test
    void tokensAreUnique() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            assertThat(seen.add(Secrets.agentToken())).as("draw %d is new", i).isTrue();
        }
    }

    @Test
    void sha256HexMatchesTheStandardTestVector() {
        // FIPS 180-2, appendix B.1.
        assertThat(Secrets.sha256Hex("abc"))
                .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assertThat(Secrets.sha256Hex("")).isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @Test
    void sha256HexIsLowercaseHexOfUtf8() {
        String token = Secrets.agentToken();
        assertThat(Secrets.sha256Hex(token)).matches("[0-9a-f]{64}").isEqualTo(Secrets.sha256Hex(token));
        assertThat(Secrets.sha256Hex("é")).isNotEqualTo(Secrets.sha256Hex("e"));
    }
}
