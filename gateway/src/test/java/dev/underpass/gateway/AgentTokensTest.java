package dev.underpass.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Base64;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AgentTokensTest {

    @Test
    void tokensHaveThePrefixAnd256BitsOfBase64Url() {
        String token = AgentTokens.generate();
        assertThat(token).startsWith(AgentTokens.PREFIX).startsWith("upa_");
        String body = token.substring(AgentTokens.PREFIX.length());
        assertThat(body).hasSize(43).matches("[A-Za-z0-9_-]{43}");
        assertThat(Base64.getUrlDecoder().decode(body)).hasSize(32);
    }

    @Test
    void tokensAreUnique() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            assertThat(seen.add(AgentTokens.generate())).as("draw %d is new", i).isTrue();
        }
    }

    @Test
    void sha256HexMatchesTheStandardTestVector() {
        // FIPS 180-2, appendix B.1.
        assertThat(AgentTokens.sha256Hex("abc"))
                .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assertThat(AgentTokens.sha256Hex(""))
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @Test
    void sha256HexIsLowercaseHexOfUtf8() {
        String token = AgentTokens.generate();
        assertThat(AgentTokens.sha256Hex(token)).matches("[0-9a-f]{64}").isEqualTo(AgentTokens.sha256Hex(token));
        assertThat(AgentTokens.sha256Hex("é")).isNotEqualTo(AgentTokens.sha256Hex("e"));
    }
}
