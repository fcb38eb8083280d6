/* A shared object that is not a sluice plugin: no sluice_sink_entry. */
int not_a_plugin(void) { return 42; }
