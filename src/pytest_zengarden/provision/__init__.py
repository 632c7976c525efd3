"""Operations: converge a target to the site (``--provision``): facts -> diff -> plan -> apply -> verify.

Per target kind, a *planner* (pure: desired state from :mod:`pytest_zengarden.desired`, current state as
read) returns an ordered :class:`~pytest_zengarden.provision.plan.Plan` a person can review, and an
*applier* executes it through the same clients the checks read with.  Verification never imports this
package: provisioning is graded by the checks, not by its own generator.
"""
