import Testing

@testable import Custody

@Suite("PostgreSQL URL")
struct PostgresURLTests {
    @Test("user, password and database are percent-decoded")
    func decoded() throws {
        let url = try PostgresURL("postgres://sign%65r:p%40ss%2Fword@db.internal:6543/signer%5Fprod?sslmode=require")
        #expect(url.username == "signer" && url.password == "p@ss/word" && url.database == "signer_prod")
        #expect(url.host == "db.internal" && url.port == 6543 && url.sslMode == .require)
    }

    @Test(
        "a malformed escape is refused with the usual message, which never echoes the URL",
        arguments: ["postgres://signer:hunter%2@h/db", "postgres://sig%zzner:pw@h/db", "postgres://signer:pw@h/db%"]
    )
    func malformed(url: String) {
        #expect(throws: CustodyError(.invalidInput, "database URL must look like postgres://user:password@host:port/database")) {
            try PostgresURL(url)
        }
    }
}
