package dev.underpass.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Rows under a header, printed in columns aligned on the widest cell: the one way every command
 * prints a table. Not picocli's {@code Help.TextTable}: that one needs each column's width before
 * the first row, and it reads {@code @|...|@} in a cell as markup even with colours off, so a
 * description or an agent's reason holding that text would print changed and misaligned.
 */
final class Table {
    private static final String GAP = "   ";

    private final List<String[]> rows = new ArrayList<>();
    private final int columns;

    private Table(String[] header) {
        this.columns = header.length;
        rows.add(header);
    }

    static Table of(String... header) {
        return new Table(header);
    }

    Table row(String... cells) {
        if (cells.length != columns) {
            throw new IllegalArgumentException("cells: " + cells.length + " (expected: " + columns + ")");
        }
        rows.add(Arrays.stream(cells)
                .map(c -> c == null || c.isEmpty() ? Text.NONE : c)
                .toArray(String[]::new));
        return this;
    }

    void print(PrintWriter out) {
        print(out, "");
    }

    /** Prints every line after {@code indent}; the last column is not padded, so lines carry no trailing blanks. */
    void print(PrintWriter out, String indent) {
        int[] width = new int[columns];
        for (String[] r : rows) {
            for (int i = 0; i < columns; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder line = new StringBuilder(indent);
            for (int i = 0; i < columns; i++) {
                line.append(r[i]);
                if (i < columns - 1) {
                    line.append(" ".repeat(width[i] - r[i].length())).append(GAP);
                }
            }
            out.println(line);
        }
    }
}
