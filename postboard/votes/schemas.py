from pydantic import BaseModel, Field, StrictInt


class VoteIn(BaseModel):
    # Strict: JSON integers written as such, not "1", 1.0 or true. JSON Schema cannot say "not 1.0" (to it,
    # 1.0 is the integer 1), so the descriptions do.
    post_id: StrictInt = Field(description="The post's id, written as an integer (`5`, not `5.0`)")
    # `enum` says what the bounds say, but generators (schemathesis among them) draw its members as written
    # rather than any number that JSON Schema takes for 0 or 1.
    dir: StrictInt = Field(
        ge=0,
        le=1,
        description="1 adds the caller's vote, 0 takes it back: the JSON number `0` or `1`, not `1.0`",
        json_schema_extra={"enum": [0, 1]},
    )


class VoteResult(BaseModel):
    message: str
