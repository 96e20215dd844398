package dev.underpass.controlplane;

/** The databases the store must work on: the embedded H2 file and PostgreSQL. */
public enum Db {
    H2,
    POSTGRES
}
