"""The project's own tools: the test database, the load generator, the runtime benchmark.

None of them is part of the library (`setup.cfg` does not install this
package with it): they serve the people and the tests working on this
repository. Each runs from the repository's root as a module,
`python -m tools.testdb`, `python -m tools.chatbench`,
`python -m tools.runtime_benchmark`; `bin/testdb` and `bin/chatbench` are
the same commands.
"""
