/* Test program: imports a function from a module no worker provides, so it must be
 * refused as an invalid program. */
__attribute__((import_module("env"), import_name("host_secret"))) int host_secret(void);

int main(void)
{
	return host_secret();
}
