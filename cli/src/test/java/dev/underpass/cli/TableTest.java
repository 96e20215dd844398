package dev.underpass.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class TableTest {
    @Test
    void tableColumnsAlignOnTheWidestCellWithoutTrailingBlanks() {
        StringWriter s = new StringWriter();
        Table.of("ID", "STATE").row("ep-1", "available").row("ep-long-id", null).print(new PrintWriter(s, true));
        assertThat(s.toString().lines())
                .containsExactly("ID           STATE", "ep-1         available", "ep-long-id   -");
    }

    @Test
    void cellsArePrintedAsTheyAreEvenWhenTheyLookLikePicocliMarkup() {
        // A service description or an agent's reason comes from someone else: it is shown, never interpreted.
        StringWriter s = new StringWriter();
        Table.of("NAME", "DESCRIPTION").row("db", "@|bold x|@").print(new PrintWriter(s, true));
        assertThat(s.toString().lines()).containsExactly("NAME   DESCRIPTION", "db     @|bold x|@");
    }
}
